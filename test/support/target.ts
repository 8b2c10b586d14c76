/**
 * A real target process for daemon tests: target-app on a tmpfs volume in its own private mount
 * namespace (like a container), answering commands so a test sees what the app sees.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { ROOT } from './paths';

const APP = path.join(ROOT, 'dist', 'test', 'fixtures', 'target-app.js');

export interface Reply {
  ok?: boolean;
  value?: unknown;
  code?: string;
  ms: number;
}

export interface Target {
  pid: number;
  /** The volume path, as the target (and the host) names it. */
  volume: string;
  child: ChildProcess;
  ask(cmd: Record<string, unknown>): Promise<Reply>;
  /** /proc/PID/mountinfo without mount ids, as recovery must restore it. */
  mountTable(): string[];
  /** A file of the volume, read through the target's root (its view, whatever is mounted). */
  read(file: string): string;
  kill(): Promise<void>;
}

export async function startTarget(opts: { volumes?: string[] } = {}): Promise<Target> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-target-'));
  const volumes = (opts.volumes ?? ['data']).map((v) => path.join(base, v));
  for (const v of volumes) fs.mkdirSync(v);
  const mounts = volumes.map((v) => `mount -t tmpfs target-volume '${v}'`).join(' && ');
  const child = spawn(
    'unshare',
    [
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      `${mounts} && exec "$0" "$1" "$2"`,
      process.execPath,
      APP,
      volumes[0],
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = readline.createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const next = () => new Promise<string>((resolve) => waiting.push(resolve));
  const first = await Promise.race([
    next(),
    new Promise<string>((_, reject) =>
      child.on('exit', (c) => reject(new Error(`target exited (${c}) before it was ready`))),
    ),
  ]);
  const pid = (JSON.parse(first) as { pid: number }).pid;
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    pid,
    volume: volumes[0],
    child,
    async ask(cmd) {
      const reply = next();
      child.stdin!.write(JSON.stringify(cmd) + '\n');
      return JSON.parse(await reply) as Reply;
    },
    // FUSE mounts of other tests or benchmarks running at the same time are copied into the namespace
    // when it is made, and can vanish from it when their owner goes: they are not the target's.
    mountTable: () =>
      fs
        .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ').slice(2))
        .filter((f) => !(f[f.indexOf('-') + 1]?.startsWith('fuse') && !f[2].startsWith(base)))
        .map((f) => f.join(' ')),
    read: (file) => fs.readFileSync(`/proc/${pid}/root${file}`, 'utf8'),
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      fs.rmSync(base, { recursive: true, force: true });
    },
  };
}
