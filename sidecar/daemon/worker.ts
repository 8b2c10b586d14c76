/**
 * ChaosFS workers: one `chaosfs mount` process per injected volume, so a worker that crashes hurts only
 * its own injection. Workers run in their own session with their output in a log file, not a pipe: a
 * daemon that is SIGKILLed must not take the app's file system down with it. The restarted daemon finds
 * them in the journal and recovers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FS_TYPE } from '../chaosfs/chaosfs';
import { request } from '../control/client';
import { mounts } from './mount-table';

const CLI = path.join(__dirname, '..', 'cli.js');

export interface StartedWorker {
  pid: number;
  child: ChildProcess;
  exited: Promise<number | null>;
}

function mountedHere(dir: string): boolean {
  return mounts('self').some((m) => m.mountpoint === dir && m.fstype === FS_TYPE);
}

export interface WorkerOptions {
  source: string;
  staging: string;
  socket: string;
  logFile: string;
}

export async function startWorker(opts: WorkerOptions): Promise<StartedWorker> {
  fs.mkdirSync(opts.staging, { recursive: true, mode: 0o700 });
  fs.mkdirSync(path.dirname(opts.socket), { recursive: true, mode: 0o700 });
  const log = fs.openSync(opts.logFile, 'a', 0o600);
  const child = spawn(
    process.execPath,
    [CLI, 'mount', '--source', opts.source, '--mountpoint', opts.staging, '--control', opts.socket],
    { detached: true, stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  let code: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (c, signal) => {
      code = c ?? (signal ? -1 : null);
      resolve(code);
    }),
  );
  for (let i = 0; i < 400; i++) {
    if (code !== undefined) {
      const tail = fs.readFileSync(opts.logFile, 'utf8').trim().split('\n').slice(-3).join(' | ');
      throw new Error(`the ChaosFS worker exited (${code}) before it was ready: ${tail}`);
    }
    if (mountedHere(opts.staging) && fs.existsSync(opts.socket)) {
      const health = await request(opts.socket, { op: 'health' }).catch(() => undefined);
      if (health?.ok) return { pid: child.pid!, child, exited };
    }
    await sleep(25);
  }
  child.kill('SIGKILL');
  throw new Error(`the ChaosFS worker did not mount ${opts.staging} within 10 s`);
}

/**
 * A running process's start time (/proc/PID/stat field 22, clock ticks since boot); undefined once it
 * has exited (a zombie included).
 */
export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may itself hold spaces or ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/** Who a journaled worker was: its pid and start time (the pid alone may be another process's by now). */
export interface WorkerIdentity {
  pid: number;
  start?: string;
  /** Its control socket: names the worker in its command line, for journals without a start time. */
  socket: string;
}

/** The worker is still running, and is still that worker (not a process that reuses its pid). */
export function isWorker(w: WorkerIdentity): boolean {
  if (w.start !== undefined) return startTimeOf(w.pid) === w.start;
  try {
    const argv = fs.readFileSync(`/proc/${w.pid}/cmdline`, 'utf8').split('\0');
    return argv.includes('--control') && argv[argv.indexOf('--control') + 1] === w.socket;
  } catch {
    return false;
  }
}

/**
 * Asks a worker to unmount and exit (SIGTERM), waiting up to `ms`; then SIGKILL. A pid that is no
 * longer that worker is never signalled.
 */
export async function stopWorker(w: WorkerIdentity, ms = 10_000): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    if (!isWorker(w)) return false;
    try {
      process.kill(w.pid, sig);
      return true;
    } catch {
      return false;
    }
  };
  if (!signal('SIGTERM')) return;
  for (let waited = 0; waited < ms && isWorker(w); waited += 25) await sleep(25);
  signal('SIGKILL');
}
