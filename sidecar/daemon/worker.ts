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

export async function startWorker(opts: {
  source: string;
  staging: string;
  socket: string;
  logFile: string;
}): Promise<StartedWorker> {
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

/** Asks a worker to unmount and exit (SIGTERM), waiting up to `ms`; then SIGKILL. */
export async function stopWorker(pid: number, ms = 10_000): Promise<void> {
  const isAlive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!isAlive()) return;
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < ms && isAlive(); waited += 25) await sleep(25);
  if (isAlive()) process.kill(pid, 'SIGKILL');
}
