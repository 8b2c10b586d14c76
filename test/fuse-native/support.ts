/**
 * Shared pieces of the fuse-native tests: a small pass-through file system over a backing directory,
 * mounting under a fresh temp dir, and cleanup that leaves no mount behind even when a test fails.
 *
 * Every access to a mount goes through a child process: the handlers run on this process's event
 * loop and use its libuv thread pool, so a synchronous or thread-pool access from here would wait for
 * an answer that only this thread can give.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requireRootAndFuse } from '../support/root';

// The types shipped with the patch (node_modules/fuse-native/index.d.ts). They are reached by path
// because sidecar/ declares an ambient 'fuse-native' module of its own, which would win otherwise.
type FuseModule = typeof import('../../node_modules/fuse-native/index');
export type Fuse = InstanceType<FuseModule>;
export type Operations = import('../../node_modules/fuse-native/index').Operations;
export type Options = import('../../node_modules/fuse-native/index').Options;
export type CloseOptions = import('../../node_modules/fuse-native/index').CloseOptions;
export type TimeArg = import('../../node_modules/fuse-native/index').TimeArg;
export const Fuse: FuseModule = require('fuse-native');

export type Ops = Operations;

export interface Passthrough {
  ops: Ops;
  /** How many times each op was called. */
  calls: Record<string, number>;
}

function errnoOf(err: NodeJS.ErrnoException | null): number {
  if (!err) return 0;
  return typeof err.errno === 'number' ? err.errno : -5;
}

/** A pass-through of `backing`, with `overrides` replacing single ops. */
export function passthrough(backing: string, overrides: Partial<Ops> = {}): Passthrough {
  const at = (p: string) => path.join(backing, p);
  const base: Ops = {
    getattr: (p, cb) => fs.lstat(at(p), { bigint: true }, (err, st) => cb(errnoOf(err), st)),
    fgetattr: (_p, fd, cb) => fs.fstat(fd, { bigint: true }, (err, st) => cb(errnoOf(err), st)),
    readdir: (p, cb) => fs.readdir(at(p), (err, names) => cb(errnoOf(err), names)),
    open: (p, flags, cb) => fs.open(at(p), flags, (err, fd) => cb(errnoOf(err), fd)),
    create: (p, mode, cb) => fs.open(at(p), 'wx+', mode, (err, fd) => cb(errnoOf(err), fd)),
    read: (_p, fd, buf, len, pos, cb) =>
      fs.read(fd, buf, 0, len, pos, (err, n) => cb(err ? errnoOf(err) : n)),
    write: (_p, fd, buf, len, pos, cb) =>
      fs.write(fd, buf, 0, len, pos, (err, n) => cb(err ? errnoOf(err) : n)),
    release: (_p, fd, cb) => fs.close(fd, (err) => cb(errnoOf(err))),
    truncate: (p, size, cb) => fs.truncate(at(p), size, (err) => cb(errnoOf(err))),
    ftruncate: (_p, fd, size, cb) => fs.ftruncate(fd, size, (err) => cb(errnoOf(err))),
    unlink: (p, cb) => fs.unlink(at(p), (err) => cb(errnoOf(err))),
    mkdir: (p, mode, cb) => fs.mkdir(at(p), mode, (err) => cb(errnoOf(err))),
    rmdir: (p, cb) => fs.rmdir(at(p), (err) => cb(errnoOf(err))),
    rename: (a, b, cb) => fs.rename(at(a), at(b), (err) => cb(errnoOf(err))),
    chmod: (p, mode, cb) => fs.chmod(at(p), mode, (err) => cb(errnoOf(err))),
    statfs: (p, cb) =>
      fs.statfs(at(p), { bigint: true }, (err, s) => cb(errnoOf(err), s && { ...s, frsize: s.bsize })),
  };
  const calls: Record<string, number> = {};
  const ops: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries({ ...base, ...overrides })) {
    if (typeof fn !== 'function') continue;
    ops[name] = (...args: unknown[]) => {
      calls[name] = (calls[name] ?? 0) + 1;
      return (fn as (...a: unknown[]) => unknown)(...args);
    };
  }
  return { ops: ops as Ops, calls };
}

export interface Sandbox {
  base: string;
  backing: string;
  mnt: string;
  fuses: Fuse[];
}

export function sandbox(): Sandbox {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-fuse-'));
  const backing = path.join(base, 'backing');
  const mnt = path.join(base, 'mnt');
  fs.mkdirSync(backing);
  fs.mkdirSync(mnt);
  return { base, backing, mnt, fuses: [] };
}

/**
 * Mocha hooks for a suite whose tests each get a fresh sandbox holding a `hello` file, cleaned up
 * after each test whatever happened; the returned function gives the current test's sandbox.
 */
export function eachSandbox(): () => Sandbox {
  let box: Sandbox | undefined;
  before(requireRootAndFuse);
  beforeEach(function () {
    box = sandbox();
    fs.writeFileSync(path.join(box.backing, 'hello'), 'hello world\n');
  });
  afterEach(async function () {
    await cleanup(box);
    box = undefined;
  });
  return () => box!;
}

export function mount(box: Sandbox, ops: Ops, opts: Options = {}, mnt = box.mnt): Promise<Fuse> {
  const fuse = new Fuse(mnt, ops, opts);
  box.fuses.push(fuse);
  return new Promise((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve(fuse))));
}

export function close(fuse: Fuse, opts: CloseOptions = {}): Promise<void> {
  return new Promise((resolve, reject) => fuse.close(opts, (err) => (err ? reject(err) : resolve())));
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

/** For after/afterEach: close every Fuse (bounded), detach whatever is still mounted, remove the dir. */
export async function cleanup(box: Sandbox | undefined): Promise<void> {
  if (!box) return;
  for (const fuse of box.fuses) {
    await Promise.race([
      close(fuse).catch(() => undefined),
      new Promise((r) => setTimeout(r, 30_000).unref()),
    ]);
  }
  for (const m of fuseMountsUnder(box.base).reverse()) await run('umount', ['-l', m]);
  for (const m of fuseMountsUnder(box.base).reverse()) await run('umount', ['-l', m]);
  fs.rmSync(box.base, { recursive: true, force: true });
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Runs a Node script in a child (its own thread pool: UV_THREADPOOL_SIZE=threads). */
export function node(script: string, args: string[] = [], threads = 4, timeoutMs = 60_000): Promise<Ran> {
  const env = { ...process.env, UV_THREADPOOL_SIZE: String(threads) };
  return run(process.execPath, ['-e', script, '--', ...args], { env, timeoutMs });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it is true or `ms` elapse; returns its last value. */
export async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await sleep(20);
  }
  return check();
}

export const errno = os.constants.errno;

/** The module directory of fuse-native, as Node resolves it from here. */
export const fuseNativeDir = path.dirname(require.resolve('fuse-native'));
