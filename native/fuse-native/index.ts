/**
 * @iochaos/fuse-native: a pass-through FUSE file system beneath a root directory fd, on libfuse3's
 * low-level API (Debian's libfuse3 3.14), in the lineage of fuse-native (handler-style JS, N-API).
 *
 * Every call is served in C on libfuse's worker threads (src/ops.c) and decided there against the
 * rule set of `setRules` (op mask, path glob, percent: src/rules.c). A fired rule's delay is served in
 * C too; only calls a `js` rule fires on are shown to `handlers.call` first, which may fail them, and,
 * if it asks, again with their result (read data, write count, attributes), which it may change.
 * See README.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { OPS, type Op } from './ops';

export { OPS, type Op };

/** Attributes as the kernel gets them (times in ns since the epoch). */
export interface Attributes {
  ino: bigint;
  mode: number;
  nlink: bigint;
  uid: number;
  gid: number;
  rdev: bigint;
  size: bigint;
  blksize: bigint;
  blocks: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** The free-space part of a statfs reply. */
export interface Space {
  bsize: number;
  bfree: number;
  bavail: number;
}

/** One call as JS sees it. `after` is false before the backing call, true when showing its result. */
export interface Call {
  op: Op;
  after: boolean;
  /** The same in both steps of one call. */
  id: number;
  /** Relative to the root, no leading '/'; '' for the root. For lookup, create, mkdir... the new name. */
  path: string;
  /** The backing file's inode number (0n for a name that does not exist yet). */
  ino: bigint;
  offset: number;
  length: number;
  /** write (before): the bytes to be stored; read (after): the bytes read. Changes are kept. */
  data?: Buffer;
  /** lookup / getattr / setattr (after): the reply's attributes. Changes are kept. */
  attr?: Attributes;
  /** after: bytes read or written. */
  result?: number;
  /** write, and setattr that sets a size: the file's size before the call (absent if unknown). */
  sizeBefore?: number;
  /** setattr: the size it sets (a truncate); absent when it sets none. */
  size?: number;
  /** statfs (after): the free space reported, in blocks of `bsize` bytes. Lowering it is kept. */
  space?: Space;
  /** Indices (in the last setRules list) of the rules that fired on this call. */
  rules: number[];
}

/**
 * One rule of the set the C side decides with. A call fires the rule when its op is in `ops`, its
 * path (relative to the root, as `Call.path`) matches `glob` (sidecar/faults/glob.ts's meaning;
 * omitted: every path) and a draw in C falls under `percent`. A fired rule holds the call's reply back
 * `delayUs` µs (on a timer thread: no worker waits) and, when `js`, shows the call to handlers.call.
 */
export interface NativeRule {
  ops: Iterable<Op>;
  glob?: string;
  /** 0-100, default 100. */
  percent?: number;
  /** Default 0. */
  delayUs?: number;
  js?: boolean;
}

/** 0 / undefined: go on; a negative errno: fail the call; `after: true`: show me the result too. */
export type Answer = number | void | { errno?: number; after?: boolean };

export interface Handlers {
  call(call: Call): Answer | Promise<Answer>;
}

export interface Options {
  fsname?: string;
  subtype?: string;
  allowOther?: boolean;
  defaultPermissions?: boolean;
  readOnly?: boolean;
  /** Seconds the kernel may cache attributes / names while no getattr / lookup op goes to JS. Default 1. */
  attrTimeout?: number;
  entryTimeout?: number;
  /** libfuse's worker threads at most (calls waiting for JS each hold one). Default 64. */
  maxThreads?: number;
  /** Raw libfuse options ("-o" each); libfuse refuses unknown ones. */
  extraOptions?: string[];
}

export interface MountSpec {
  rootFd: number;
  mountpoint: string;
  options?: Options;
  handlers?: Handlers;
  /** Shorthand for `rules: [{ ops: jsOps, js: true }]`: every call of these ops goes to JS. */
  jsOps?: Iterable<Op>;
  rules?: NativeRule[];
  /** A handler that threw or answered something malformed (the call got EIO). */
  onHandlerError?: (err: unknown, call: Call) => void;
}

/** Per rule of the current set (from its last setRules): calls its ops and glob matched, and it fired on. */
export interface RuleCounts {
  matched: number[];
  fired: number[];
}

export interface Stats {
  nativeCalls: Record<Op, number>;
  jsCalls: Record<Op, number>;
  /** Inodes the kernel holds. */
  inodes: number;
}

type Done = (errno: number, after: boolean, data?: Buffer, attr?: Attributes, space?: Space) => void;
type Handle = object & { readonly __fuse3: unique symbol };
interface Binding {
  ops: string[];
  mount(
    rootFd: number,
    mountpoint: string,
    options: string[],
    attrTimeout: number,
    entryTimeout: number,
    maxThreads: number,
    dispatch: (call: Call, done: Done) => void,
  ): Handle;
  setGuard(h: Handle, on: boolean): void;
  ruleCounts(h: Handle): RuleCounts;
  setRules(h: Handle, rules: Array<{ ops: number; glob?: string; percent: number; delayUs: number; js: boolean }>): void;
  globMatch(pattern: string, paths: string[]): boolean[];
  device(h: Handle): string;
  stats(h: Handle): Stats;
  invalidate(h: Handle): Promise<number>;
  close(h: Handle): Promise<number>;
  umount2(path: string, flags: number): number;
}

const MNT_FORCE = 1;
const MNT_DETACH = 2;
const UMOUNT_NOFOLLOW = 8;

/** Found from the repo root (dist/native/fuse-native/ when compiled, native/fuse-native/ as source). */
function loadBinding(): Binding {
  const candidates = [
    path.join(__dirname, 'build/Release/fuse3.node'),
    path.join(__dirname, '../../../native/fuse-native/build/Release/fuse3.node'),
  ];
  const file = candidates.find((f) => fs.existsSync(f));
  if (!file) throw new Error(`fuse3.node is not built (npm run build:fuse3); looked in ${candidates.join(', ')}`);
  const b = require(file) as Binding;
  if (b.ops.join() !== OPS.join()) throw new Error('fuse3.node and index.ts disagree on the op list');
  return b;
}

const binding = loadBinding();

export function maskOf(ops: Iterable<string>): number {
  let mask = 0;
  for (const op of ops) {
    const bit = OPS.indexOf(op as Op);
    if (bit < 0) throw new Error(`unknown FUSE op "${op}" (known: ${OPS.join(', ')})`);
    mask += 2 ** bit;
  }
  return mask;
}

/** The rules in the binding's compact form (op masks), refusing what C would misread. */
function compactRules(rules: NativeRule[]) {
  return rules.map((r, k) => {
    const percent = r.percent ?? 100;
    const delayUs = r.delayUs ?? 0;
    if (!(percent >= 0 && percent <= 100)) throw new Error(`rule ${k}: percent ${percent} is not within 0-100`);
    if (!Number.isInteger(delayUs) || delayUs < 0 || delayUs >= 4e9)
      throw new Error(`rule ${k}: delayUs ${delayUs} is not a whole number of µs below 4e9`);
    if (r.glob !== undefined && typeof r.glob !== 'string') throw new Error(`rule ${k}: glob must be a string`);
    return { ops: maskOf(r.ops), glob: r.glob, percent, delayUs, js: !!r.js };
  });
}

/** The C glob matcher on each path (for tests that hold it to sidecar/faults/glob.ts). */
export function globMatch(pattern: string, paths: string[]): boolean[] {
  return binding.globMatch(pattern, paths);
}

function escape(value: string): string {
  return value.replace(/[\\,]/g, (c) => `\\${c}`);
}

function libfuseOptions(o: Options): string[] {
  const out: string[] = [];
  if (o.fsname !== undefined) out.push(`fsname=${escape(o.fsname)}`);
  if (o.subtype !== undefined) out.push(`subtype=${escape(o.subtype)}`);
  if (o.allowOther) out.push('allow_other');
  if (o.defaultPermissions) out.push('default_permissions');
  if (o.readOnly) out.push('ro');
  for (const raw of o.extraOptions ?? []) {
    if (/^auto_unmount\b/.test(raw)) throw new Error('auto_unmount needs fusermount3; close() detaches instead');
    out.push(raw);
  }
  return out;
}

const decode = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Mount points of the connection `device` ("major:minor") in this process's mount namespace. */
function mountsOf(device: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f.length > 4 && f[2] === device)
    .map((f) => decode(f[4]));
}

function errnoOf(answer: Answer): number {
  const errno = typeof answer === 'object' && answer ? answer.errno : answer;
  if (errno === undefined || errno === 0) return 0;
  if (!Number.isInteger(errno) || errno > 0 || errno < -4095)
    throw new Error(`a handler answered ${String(errno)}: 0 or a negative errno expected`);
  return errno;
}

export class FuseSession {
  private handle: Handle | null;
  private closing?: Promise<void>;
  /** The connection's device ("major:minor"): how close() finds the mount wherever it was moved. */
  readonly device: string;

  private constructor(
    handle: Handle,
    public mountpoint: string,
  ) {
    this.handle = handle;
    this.device = binding.device(handle);
  }

  static mount(spec: MountSpec): FuseSession {
    const o = spec.options ?? {};
    const handlers = spec.handlers;
    const report =
      spec.onHandlerError ??
      ((err: unknown, call: Call) => process.emitWarning(`fuse3 handler for ${call.op}: ${String(err)}`));
    const dispatch = (call: Call, done: Done) => {
      const fail = (err: unknown) => {
        report(err, call);
        done(-5, false);
      };
      if (!handlers) return done(0, false);
      try {
        Promise.resolve(handlers.call(call)).then((answer) => {
          try {
            done(errnoOf(answer), typeof answer === 'object' && !!answer?.after, call.data, call.attr, call.space);
          } catch (err) {
            fail(err);
          }
        }, fail);
      } catch (err) {
        fail(err);
      }
    };
    const handle = binding.mount(
      spec.rootFd,
      spec.mountpoint,
      libfuseOptions(o),
      o.attrTimeout ?? 1,
      o.entryTimeout ?? 1,
      o.maxThreads ?? 64,
      dispatch,
    );
    const session = new FuseSession(handle, spec.mountpoint);
    const rules = [...(spec.rules ?? [])];
    const jsOps = [...(spec.jsOps ?? [])];
    if (jsOps.length > 0) rules.push({ ops: jsOps, js: true });
    try {
      binding.setRules(handle, compactRules(rules));
    } catch (err) {
      void session.close();
      throw err;
    }
    return session;
  }

  private live(): Handle {
    if (!this.handle) throw new Error('the FUSE session is closed');
    return this.handle;
  }

  /**
   * Replaces the rule set: calls decided from now on use it (calls in flight finish as they
   * started, except that replies held by a native delay are sent at once). A bad rule throws and leaves the old set. Then the kernel forgets what it cached
   * (invalidate), so that calls it would have served from its caches reach the new rules; the
   * promise resolves with the number of inodes invalidated.
   */
  setRules(rules: NativeRule[]): Promise<number> {
    binding.setRules(this.live(), compactRules(rules));
    return this.invalidate();
  }

  /** Which ops are shown to JS from now on: `setRules([{ ops, js: true }])` without invalidating. */
  setJsOps(ops: Iterable<Op>): void {
    const list = [...ops];
    binding.setRules(this.live(), compactRules(list.length ? [{ ops: list, js: true }] : []));
  }

  /**
   * While on, every call is served with the caller's fs uid, gid and supplementary groups, so the
   * backing checks its real permissions (for when an attribute a rule changed could have misled the
   * kernel's check), and nothing is cached. Set it before the rules that need it (setRules then
   * invalidates what the kernel cached).
   */
  setGuard(on: boolean): void {
    binding.setGuard(this.live(), on);
  }

  /**
   * Makes the kernel forget cached attributes, pages and names of every file it holds, so the next
   * call on each reaches the file system (after setJsOps, so that a new rule applies at once).
   * Resolves with the number of inodes invalidated.
   */
  invalidate(): Promise<number> {
    return binding.invalidate(this.live());
  }

  /** The current rule set's counters (they start at 0 with each setRules). */
  ruleCounts(): RuleCounts {
    return binding.ruleCounts(this.live());
  }

  stats(): Stats | null {
    return this.handle && binding.stats(this.handle);
  }

  /**
   * Detaches every mount of this connection visible here (`at`, where it was moved, first) and ends
   * the session. Open files on it then fail with ENOTCONN. Safe to call twice.
   */
  close(at?: string): Promise<void> {
    this.closing ??= (async () => {
      const handle = this.live();
      const first = at ?? this.mountpoint;
      const found = mountsOf(this.device);
      const ordered = [
        ...found.filter((m) => m === first),
        ...found.filter((m) => m !== first).sort((a, b) => a.split('/').length - b.split('/').length),
      ];
      // MNT_FORCE aborts the connection (so the session ends even with files still open), then each
      // mount is detached without following a symlink planted at its path.
      if (ordered.length > 0) binding.umount2(ordered[0], MNT_FORCE);
      for (const m of ordered) binding.umount2(m, MNT_DETACH | UMOUNT_NOFOLLOW);
      await binding.close(handle);
      this.handle = null;
    })();
    return this.closing;
  }
}

/** Detaches whatever is mounted at `mountpoint` (umount2 MNT_DETACH), without fusermount. */
export function unmount(mountpoint: string): void {
  const res = binding.umount2(mountpoint, MNT_DETACH | UMOUNT_NOFOLLOW);
  if (res < 0) throw Object.assign(new Error(`umount2 ${mountpoint}: errno ${-res}`), { errno: res });
}
