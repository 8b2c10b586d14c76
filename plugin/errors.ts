/**
 * Errors that reach a person: what happened, and what to do next (Kubernetes' Status spirit). Anything
 * else that escapes is a bug, and is printed as one.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export function formatError(err: unknown): string {
  if (err instanceof UserError) return `error: ${err.message}${err.hint ? `\n  ${err.hint}` : ''}`;
  if (err instanceof Error && err.name === 'FaultSpecError') return `error: invalid rule: ${err.message}`;
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}
