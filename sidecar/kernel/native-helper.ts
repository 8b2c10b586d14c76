/**
 * Runs the single-threaded native helpers in native/out/ and turns their one-line JSON answer into
 * a value, or into a NativeHelperError that carries the helper's own message.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { NATIVE_OUT } from '../paths';

/** Exit codes shared by the helpers (native/common.h). */
export const HELPER_EXIT = { usage: 2, refused: 3, failed: 4, partial: 5 } as const;

export class NativeHelperError extends Error {
  constructor(
    /** Which helper: 'iochaos-mount', 'iochaos-fdswap', 'nsexec.so'. */
    readonly helper: string,
    /** Its exit code, or null if it was killed by a signal. */
    readonly exitCode: number | null,
    /** What the helper said was wrong (its JSON `error`, else its stderr). */
    readonly helperMessage: string,
    /** The parsed JSON answer, when there was one. */
    readonly output?: unknown,
  ) {
    super(`${helper}: ${helperMessage}`);
    this.name = 'NativeHelperError';
  }

  /** The helper refused the request and changed nothing (bad PATH, already injected, ...). */
  get refused(): boolean {
    return this.exitCode === HELPER_EXIT.refused || this.exitCode === HELPER_EXIT.usage;
  }
}

export interface HelperRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Spawns a program and collects its output; never rejects for a non-zero exit. */
export function runProgram(
  file: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<HelperRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    // The helpers restore their targets even when told to stop; SIGTERM is held until done, so
    // a timeout only ends a helper that is itself stuck.
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs) : undefined;
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** Path of a helper binary. */
export function helperPath(name: string): string {
  return path.join(NATIVE_OUT, name);
}

/**
 * Runs a helper and parses its JSON. `okCodes` lists exit codes whose JSON is a usable answer
 * (fdswap's "partial" report, for example); anything else becomes a NativeHelperError.
 */
export async function runHelper(
  name: string,
  args: readonly string[],
  opts: { timeoutMs?: number; okCodes?: readonly number[] } = {},
): Promise<{ code: number; json: Record<string, unknown> }> {
  const file = helperPath(name);
  let run: HelperRun;
  try {
    run = await runProgram(file, args, { timeoutMs: opts.timeoutMs });
  } catch (e) {
    const msg =
      (e as NodeJS.ErrnoException).code === 'ENOENT'
        ? `${file} not found: run npm run build:native`
        : String(e);
    throw new NativeHelperError(name, null, msg);
  }
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(run.stdout) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  const okCodes = opts.okCodes ?? [0];
  if (run.code !== null && okCodes.includes(run.code) && json && json.ok === true) {
    return { code: run.code, json };
  }
  const message =
    (json && typeof json.error === 'string' && json.error) ||
    run.stderr.trim() ||
    (run.signal ? `killed by ${run.signal}` : `exited with code ${run.code} and no message`);
  throw new NativeHelperError(name, run.code, message, json);
}

/**
 * The helpers escape file-name bytes >= 0x80 as \u00XX (names are bytes, not UTF-8): map them back
 * to the original bytes and decode those as UTF-8.
 */
export function fromHelperString(s: string): string {
  return /[\u0080-\u00ff]/.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s;
}
