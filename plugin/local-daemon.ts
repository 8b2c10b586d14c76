/**
 * Reaching the chaosfs daemon on this host, for `pid/N` targets: use the one that answers on the
 * socket, or start one (and say so). Local injection mounts FUSE and ptraces, so it needs root.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_CONTROL_SOCKET, DEFAULT_STATE_DIR } from '../sidecar/api/names';
import type { ControlReply, ControlRequest } from '../sidecar/api/control';
import { request } from '../sidecar/control/client';
import { UserError } from './errors';

const CHAOSFS_CLI = path.join(__dirname, '..', 'sidecar', 'cli.js');

export interface LocalDaemonOptions {
  socket: string;
  stateDir: string;
  /** Progress lines for a person (stderr). */
  say: (line: string) => void;
}

export function localDaemonOptions(say: (line: string) => void): LocalDaemonOptions {
  return {
    socket: process.env.IOCHAOS_SOCKET ?? DEFAULT_CONTROL_SOCKET,
    stateDir: process.env.IOCHAOS_STATE_DIR ?? DEFAULT_STATE_DIR,
    say,
  };
}

async function healthy(socket: string): Promise<boolean> {
  const reply = await request(socket, { op: 'health' }).catch(() => undefined);
  return reply?.ok === true;
}

export async function ensureLocalDaemon(opts: LocalDaemonOptions): Promise<void> {
  if (await healthy(opts.socket)) return;
  if (process.getuid?.() !== 0) {
    throw new UserError(
      'a local pid target needs root: iochaos mounts a FUSE file system and ptraces the process',
      'run it as root, e.g. sudo kubectl iochaos ...',
    );
  }
  fs.mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  const logFile = path.join(opts.stateDir, 'daemon.log');
  const log = fs.openSync(logFile, 'a', 0o600);
  const child = spawn(
    process.execPath,
    [CHAOSFS_CLI, 'daemon', '--socket', opts.socket, '--state-dir', opts.stateDir],
    {
      detached: true,
      stdio: ['ignore', log, log],
    },
  );
  fs.closeSync(log);
  child.unref();
  opts.say(`started a local chaosfs daemon (pid ${child.pid}, log ${logFile})`);
  for (let i = 0; i < 200; i++) {
    if (await healthy(opts.socket)) return;
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  throw new UserError(`the local chaosfs daemon did not start`, `see its log: ${logFile}`);
}

export async function sendLocal<T>(opts: LocalDaemonOptions, req: ControlRequest): Promise<ControlReply<T>> {
  await ensureLocalDaemon(opts);
  return request<T>(opts.socket, req);
}
