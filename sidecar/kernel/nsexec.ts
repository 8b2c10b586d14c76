/**
 * Run a program inside another process's namespaces with LD_PRELOAD=nsexec.so: its constructor
 * calls setns() before main, while the program is still single-threaded (Node itself never is).
 */
import * as path from 'node:path';
import { NATIVE_OUT } from '../paths';
import { NativeHelperError, runProgram } from './native-helper';

export type NamespaceKind = 'cgroup' | 'ipc' | 'uts' | 'net' | 'pid' | 'time' | 'user';

/** Whose mount namespace: a process's (also takes its root), or an ns file like /proc/1/ns/mnt. */
export type NsTarget = { pid: number } | { mntns: string };

/** nsexec.so's exit code when it could not enter: the program did not run. */
export const NSEXEC_EXIT = 125;

export const NSEXEC_SO = path.join(NATIVE_OUT, 'nsexec.so');

/**
 * The environment that makes a program start in `target`'s mount namespace (and `namespaces`),
 * based on `base` (default process.env). nsexec.so takes itself out of LD_PRELOAD for children.
 */
export function nsexecEnv(
  target: NsTarget,
  opts: { namespaces?: readonly NamespaceKind[]; base?: NodeJS.ProcessEnv } = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...(opts.base ?? process.env) };
  delete env.IOCHAOS_NSEXEC_PID;
  delete env.IOCHAOS_NSEXEC_MNTNS;
  delete env.IOCHAOS_NSEXEC_NS;
  if ('pid' in target) {
    if (!Number.isInteger(target.pid) || target.pid <= 0) throw new TypeError(`not a pid: ${target.pid}`);
    env.IOCHAOS_NSEXEC_PID = String(target.pid);
  } else {
    env.IOCHAOS_NSEXEC_MNTNS = target.mntns;
  }
  if (opts.namespaces?.length) env.IOCHAOS_NSEXEC_NS = opts.namespaces.join(',');
  env.LD_PRELOAD = env.LD_PRELOAD ? `${NSEXEC_SO}:${env.LD_PRELOAD}` : NSEXEC_SO;
  return env;
}

/**
 * Runs argv in `target`'s namespaces and collects its output. Rejects with NativeHelperError when
 * the program exits non-zero; helper 'nsexec.so' with exit code 125 means it never started.
 */
export async function runInNamespace(
  target: NsTarget,
  argv: readonly string[],
  opts: { namespaces?: readonly NamespaceKind[]; input?: string; timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  if (argv.length === 0) throw new TypeError('runInNamespace: empty argv');
  const env = nsexecEnv(target, opts);
  const run = await runProgram(argv[0], argv.slice(1), { env, input: opts.input, timeoutMs: opts.timeoutMs });
  if (run.code === 0) return { stdout: run.stdout, stderr: run.stderr };
  const nsexecFailed = run.code === NSEXEC_EXIT && run.stderr.startsWith('nsexec: ');
  const message =
    run.stderr.trim() || (run.signal ? `killed by ${run.signal}` : `exited with code ${run.code}`);
  throw new NativeHelperError(nsexecFailed ? 'nsexec.so' : argv[0], run.code, message, run);
}
