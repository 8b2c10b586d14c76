/**
 * Shared by the native tests: fixture builds, targets started in private mount namespaces, and a
 * cleanup that leaves no process or mount behind.
 */
import { ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../../sidecar/paths';

export const FIXTURES = path.join(ROOT, 'test', 'fixtures');

/** Compiles test/fixtures/NAME.c into dir (with pthreads) and returns the binary's path. */
export function buildFixture(name: string, dir: string): string {
  const out = path.join(dir, name);
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', out, path.join(FIXTURES, `${name}.c`)]);
  return out;
}

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `iochaos-${tag}-`));
}

/** A process started in its own private mount namespace, reading commands on stdin. */
export class Target {
  readonly lines: string[] = [];
  private buf = '';
  private waiters: Array<() => void> = [];
  exited = false;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      this.buf += s;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
      }
      this.waiters.splice(0).forEach((w) => w());
    });
    child.on('exit', () => {
      this.exited = true;
      this.waiters.splice(0).forEach((w) => w());
    });
    child.stdin.on('error', () => undefined);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Waits for a stdout line matching pred (rejects if the process exits first). */
  async waitLine(pred: (l: string) => boolean, what: string): Promise<string> {
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit !== undefined) return hit;
      if (this.exited) throw new Error(`target ${this.pid} exited before ${what}; output: ${this.lines.join('\n')}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  async stop(): Promise<Record<string, number>> {
    this.send('stop');
    const l = await this.waitLine((x) => x.startsWith('{"records"'), 'its final stats');
    return JSON.parse(l) as Record<string, number>;
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  async exit(): Promise<void> {
    if (this.exited) return;
    await new Promise<void>((r) => this.child.once('exit', () => r()));
  }
}

/**
 * Starts `argv` in a new private mount namespace after running `setup` (shell) there; the program
 * replaces the shell, so target.pid is the program's pid.
 */
export async function startTarget(setup: string, argv: string[], ready = '{"ready":true'): Promise<Target> {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = `set -e; ${setup}; exec ${argv.map(q).join(' ')}`;
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { stdio: 'pipe' });
  const t = new Target(child);
  child.stderr.on('data', (b: Buffer) => process.stderr.write(`[target] ${b.toString()}`));
  await t.waitLine((l) => l.startsWith(ready), 'ready');
  return t;
}

/** /proc/PID/mountinfo without the mount ids (fields 1 and 2), for before/after comparisons. */
export function mountTable(pid: number): string[] {
  return fs
    .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ').slice(2).join(' '));
}

/** The id of the top mount at `p` as process `pid` sees it. */
export function mountIdAt(pid: number, p: string): number {
  const lines = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').trim().split('\n');
  const hits = lines.map((l) => l.split(' ')).filter((f) => f[4] === p);
  if (hits.length === 0) throw new Error(`no mount at ${p} in pid ${pid}`);
  // The last one listed at a mount point is the one on top.
  return Number(hits[hits.length - 1][0]);
}

export function fdinfo(pid: number, fd: number): { pos: number; flags: number; mntId: number } {
  const s = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
  const get = (k: string) => /^(\S+):\s+(\S+)/m.exec(s.split('\n').find((l) => l.startsWith(`${k}:`)) ?? '')?.[2] ?? '';
  return { pos: Number(get('pos')), flags: parseInt(get('flags'), 8), mntId: Number(get('mnt_id')) };
}

/** Mounts of our own namespace under dir (there must be none after a test). */
export function ourMountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .trim()
    .split('\n')
    .filter((l) => (l.split(' ')[4] ?? '').startsWith(dir));
}

/** A bindfs (FUSE) mount of src at dir in our namespace. */
export function bindfs(src: string, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('bindfs', [src, dir]);
}

export function unmountAllUnder(dir: string): void {
  for (const l of ourMountsUnder(dir).reverse()) {
    const mp = l.split(' ')[4];
    try {
      execFileSync('fusermount', ['-u', '-z', mp], { stdio: 'ignore' });
    } catch {
      try {
        execFileSync('umount', ['-l', mp], { stdio: 'ignore' });
      } catch {
        // reported by the caller's check
      }
    }
  }
}

/** Runs a shell command inside pid's mount namespace. */
export function inNamespace(pid: number, script: string): void {
  execFileSync('nsenter', ['-t', String(pid), '-m', 'sh', '-c', script]);
}

/** O_PATH (not in fs.constants). */
const O_PATH = 0o10000000;

/** mnt_id and ino of what a magic link (/proc/PID/cwd, /proc/PID/map_files/A-B) points to, from our own fdinfo: no file-system call, so it works on a dead FUSE mount. */
export function identityOf(link: string): { mntId: number; ino: number } {
  const fd = fs.openSync(link, O_PATH);
  try {
    const s = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    return { mntId: Number(/^mnt_id:\s+(\d+)/m.exec(s)?.[1]), ino: Number(/^ino:\s+(\d+)/m.exec(s)?.[1]) };
  } finally {
    fs.closeSync(fd);
  }
}

/** The inode number of the file behind pid's fd (fdinfo `ino:`). */
export function inoOf(pid: number, fd: number): number {
  return Number(/^ino:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1]);
}

/** pid's file mappings (address ranges) whose file is on mount `mntId`. */
export function mapsOn(pid: number, mntId: number): string[] {
  const ranges = fs
    .readFileSync(`/proc/${pid}/maps`, 'utf8')
    .trim()
    .split('\n')
    .filter((l) => / \//.test(l))
    .map((l) => l.split(' ')[0]);
  return ranges.filter((r) => {
    try {
      return identityOf(`/proc/${pid}/map_files/${r}`).mntId === mntId;
    } catch {
      return false; // unmapped meanwhile
    }
  });
}
