/**
 * Shared pieces of the native/fuse-native tests: a sandbox (backing dir, mount point) per test, a
 * mount of the binding over it, and cleanup that leaves no mount behind even when a test fails.
 *
 * Accesses to a mount whose calls go to JS handlers must come from a child process (`sh`): the
 * handlers run on this process's event loop, which a synchronous access from here would block.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FuseSession, type MountSpec } from '../../native/fuse-native/index';
import { requireRootAndFuse } from '../support/root';

export interface Sandbox {
  base: string;
  backing: string;
  mnt: string;
  rootFd: number;
  sessions: FuseSession[];
}

function sandbox(): Sandbox {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-fuse3-'));
  const backing = path.join(base, 'backing');
  const mnt = path.join(base, 'mnt');
  fs.mkdirSync(backing);
  fs.mkdirSync(mnt);
  fs.writeFileSync(path.join(backing, 'hello'), 'hello world\n');
  return { base, backing, mnt, rootFd: fs.openSync(backing, 'r'), sessions: [] };
}

/** Mocha hooks: a fresh sandbox per test, cleaned up after it; the function gives the current one. */
export function eachSandbox(): () => Sandbox {
  let box: Sandbox | undefined;
  before(requireRootAndFuse);
  beforeEach(() => {
    box = sandbox();
  });
  afterEach(async () => {
    await cleanup(box);
    box = undefined;
  });
  return () => box!;
}

export function mount(box: Sandbox, spec: Partial<MountSpec> = {}): FuseSession {
  const s = FuseSession.mount({ rootFd: box.rootFd, mountpoint: box.mnt, ...spec });
  box.sessions.push(s);
  return s;
}

/** FUSE mounts in /proc/mounts at or below `dir`. */
export function fuseMountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f.length > 2 && f[2].startsWith('fuse'))
    .map((f) => f[1].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(dir + '/'));
}

async function cleanup(box: Sandbox | undefined): Promise<void> {
  if (!box) return;
  for (const s of box.sessions) {
    await Promise.race([s.close().catch(() => undefined), new Promise((r) => setTimeout(r, 20_000).unref())]);
  }
  for (const m of fuseMountsUnder(box.base).reverse()) await sh(`umount -l '${m}'`);
  fs.closeSync(box.rootFd);
  fs.rmSync(box.base, { recursive: true, force: true });
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export function sh(script: string, timeoutMs = 60_000): Promise<Ran> {
  return run('sh', ['-c', script], timeoutMs);
}

/** Runs a Python 3 snippet in a child; what it prints is the result. */
export function py(script: string, timeoutMs = 60_000): Promise<Ran> {
  return run('python3', ['-c', script], timeoutMs);
}
