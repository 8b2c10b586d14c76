/**
 * Errors that reach a person: what happened, and what to do next (Kubernetes' Status spirit). Anything
 * else that escapes is a bug, and is printed as one.
 */

/** Exit codes, documented in --help and the README. */
export const EXIT = {
  ok: 0,
  /** The command failed (everywhere it was sent). */
  failed: 1,
  /** Bad command line or input: nothing was sent. */
  usage: 2,
  /** The target (process, pod, injection) does not exist. */
  notFound: 3,
  /** Some places succeeded, others failed: see the error lines. */
  partial: 4,
} as const;

export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** Bad input: exit 2, nothing sent. */
export const usageError = (message: string, hint?: string) => new UserError(message, hint, EXIT.usage);

export function formatError(err: unknown): string {
  if (err instanceof UserError) return `error: ${err.message}${err.hint ? `\n  ${err.hint}` : ''}`;
  if (err instanceof Error && err.name === 'FaultSpecError') return `error: invalid rule: ${err.message}`;
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof UserError) return err.exitCode;
  if (err instanceof Error && (err.name === 'FaultSpecError' || err.name === 'TargetError'))
    return EXIT.usage;
  return EXIT.failed;
}

/** One exit code for replies from several places: all ok, all not found, some ok, or none. */
export function exitCodeFor(replies: readonly { ok: boolean; error?: { code: string } }[]): number {
  const failed = replies.filter((r) => !r.ok);
  if (failed.length === 0) return EXIT.ok;
  if (failed.length < replies.length) return EXIT.partial;
  if (failed.every((r) => r.error?.code === 'NotFound')) return EXIT.notFound;
  return EXIT.failed;
}
