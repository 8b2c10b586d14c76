// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;
