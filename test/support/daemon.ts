/**
 * A chaosfs daemon of a test's own (its own socket, journal and run directory), and the real CLIs
 * pointed at it through the IOCHAOS_* environment.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from '../../sidecar/control/client';
import { CHAOSFS_CLI, ROOT } from './paths';
import { forceUnmountUnder } from './mounts';

export const PLUGIN_CLI = path.join(ROOT, 'dist', 'plugin', 'cli.js');

export interface TestDaemon {
  dir: string;
  env: NodeJS.ProcessEnv;
  socket: string;
  process?: ChildProcess;
  /** Starts (or restarts) the daemon process; resolves once it answers. */
  start(extraEnv?: NodeJS.ProcessEnv): Promise<void>;
  /** SIGKILL, as a crash or an OOM kill would. */
  kill(): Promise<void>;
  /** SIGTERM, as pod deletion would; resolves with the exit code. */
  stop(): Promise<number | null>;
  log(): string;
  /** Runs `kubectl-iochaos ARGS` against this daemon. */
  cli(...args: string[]): { status: number | null; stdout: string; stderr: string };
  /** The same, without blocking the test (for a command that waits on a stopped daemon). */
  cliInBackground(...args: string[]): ChildProcess;
  cleanup(): Promise<void>;
}

/** `wrap`: a command the daemon is started under, e.g. setpriv with a smaller capability set. */
export function testDaemon(opts: { wrap?: string[] } = {}): TestDaemon {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-daemon-'));
  const socket = path.join(dir, 'chaosfs.sock');
  const env = {
    ...process.env,
    IOCHAOS_SOCKET: socket,
    IOCHAOS_STATE_DIR: path.join(dir, 'state'),
    IOCHAOS_RUN_DIR: path.join(dir, 'run'),
  };
  let logText = '';
  const spawned: ChildProcess[] = [];
  let exited: Promise<number | null> = Promise.resolve(null);
  const d: TestDaemon = {
    dir,
    env,
    socket,
    async start(extraEnv = {}) {
      const [cmd, ...args] = [...(opts.wrap ?? []), process.execPath, CHAOSFS_CLI, 'daemon'];
      const child = spawn(cmd!, args, {
        env: { ...env, ...extraEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout!.on('data', (b) => (logText += b));
      child.stderr!.on('data', (b) => (logText += b));
      exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
      d.process = child;
      for (let i = 0; i < 400; i++) {
        if (child.exitCode !== null) throw new Error(`daemon exited (${child.exitCode}): ${logText}`);
        const reply = await request(socket, { op: 'health' }).catch(() => undefined);
        if (reply?.ok) return;
        await sleep(25);
      }
      throw new Error(`daemon did not answer within 10 s: ${logText}`);
    },
    async kill() {
      d.process?.kill('SIGKILL');
      await exited;
    },
    async stop() {
      d.process?.kill('SIGTERM');
      return exited;
    },
    log: () => logText,
    cli(...args) {
      const r = spawnSync(process.execPath, [PLUGIN_CLI, ...args], {
        env,
        encoding: 'utf8',
        timeout: 120_000,
      });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    cliInBackground(...args) {
      const child = spawn(process.execPath, [PLUGIN_CLI, ...args], { env, stdio: 'ignore' });
      spawned.push(child);
      return child;
    },
    async cleanup() {
      for (const c of spawned) c.kill('SIGKILL');
      if (d.process && d.process.exitCode === null && d.process.signalCode === null) {
        d.process.kill('SIGTERM');
        await Promise.race([exited, sleep(15_000)]);
        d.process.kill('SIGKILL');
      }
      // Workers run in their own sessions (they must survive a daemon crash); none may outlive a test.
      spawnSync('pkill', ['-KILL', '-f', '--', `--control ${path.join(dir, 'run')}`]);
      forceUnmountUnder(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return d;
}

/** The worker pids the daemon's journal names (what a test SIGKILLs to play a crashed worker). */
export function journaledWorkerPids(d: TestDaemon): number[] {
  return fs
    .readFileSync(path.join(d.dir, 'state', 'journal.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { workerPid?: number })
    .flatMap((l) => (l.workerPid ? [l.workerPid] : []));
}
