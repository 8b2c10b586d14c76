/**
 * ChaosFS's pass-through operations, in fuse-native's shape, with the rules in the path of each.
 *
 * Every handler is asynchronous and answers exactly once: libfuse runs several worker threads and each
 * waits on its own reply, so a delayed call never holds up another (50% of calls delayed 10 ms average
 * 5 ms under concurrency, as the talk insists). Backing errors pass through as the same errno; anything
 * unexpected becomes EIO, never an exception into native code.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { promisify } from 'node:util';
import type { Attributes, FsCall } from '../faults/fault';
import { methodsOf, type Operation } from '../faults/methods';
import { Backing, O_PATH, relative, split } from './backing';
import { Refusal, RulesGate } from './rules-gate';
import * as access from './access';
import { deny, type AccessGuard, type Caller } from './guard';
import { xattr, mknod, utimensat, type TimeSpec } from './syscalls';

const EIO = -os.constants.errno.EIO;
const { EACCES, ENXIO } = os.constants.errno;
const EOPNOTSUPP = -os.constants.errno.EOPNOTSUPP;
const { O_CREAT, O_EXCL, O_NOCTTY, O_NOFOLLOW, O_RDWR, O_WRONLY, O_DIRECT } = fs.constants;

const p = {
  lstat: promisify(fs.lstat),
  fstat: promisify(fs.fstat),
  open: promisify(fs.open),
  close: promisify(fs.close),
  read: promisify(fs.read),
  write: promisify(fs.write),
  readdir: promisify(fs.readdir),
  readlink: promisify(fs.readlink),
  mkdir: promisify(fs.mkdir),
  rmdir: promisify(fs.rmdir),
  unlink: promisify(fs.unlink),
  rename: promisify(fs.rename),
  link: promisify(fs.link),
  symlink: promisify(fs.symlink),
  chmod: promisify(fs.chmod),
  lchown: promisify(fs.lchown),
  ftruncate: promisify(fs.ftruncate),
  fsync: promisify(fs.fsync),
  fdatasync: promisify(fs.fdatasync),
  fchmod: promisify(fs.fchmod),
  statfs: promisify(fs.statfs),
  access: promisify(fs.access),
};

/** fuse-native's reply callback; what follows the code differs per operation (a stat, an fd, names). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Callback = (code: number, ...values: any[]) => void;

/** Logs what could not be mapped to an errno; the call still gets EIO. */
export type Logger = (message: string, err: unknown) => void;

export type { Caller } from './guard';

export function toAttributes(st: fs.BigIntStats): Attributes {
  return {
    ino: st.ino,
    mode: Number(st.mode),
    nlink: st.nlink,
    uid: Number(st.uid),
    gid: Number(st.gid),
    rdev: st.rdev,
    size: st.size,
    blksize: st.blksize,
    blocks: st.blocks,
    atimeNs: st.atimeNs,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
  };
}

/** Flags for the backing open: never follow a final symlink; O_DIRECT is dropped because FUSE's
 * buffers are not aligned for it and ChaosFS already bypasses the page cache (direct_io). */
function backingFlags(flags: number): number {
  return (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_DIRECT)) | O_NOFOLLOW;
}

export function makeOperations(
  backing: Backing,
  gate: RulesGate,
  log: Logger,
  caller?: () => Caller | null | undefined,
  guard?: AccessGuard,
) {
  /**
   * The caller's credentials while the access guard is on (an attrOverride rule could have misled
   * the kernel's permission check), else null. Read synchronously when the call arrives.
   */
  const guarded = (): access.Credentials | null => guard?.who(caller?.()) ?? null;

  /** With the guard on: search permission along `path`, then `decide` on the real attributes. */
  async function check(
    who: access.Credentials | null,
    path: string,
    decide?: (g: AccessGuard, who: access.Credentials) => Promise<number>,
  ): Promise<void> {
    if (!who || !guard) return;
    await guard.walk(who, path);
    if (decide) deny(await decide(guard, who));
  }

  /** The kernel's should_remove_suid after a write or truncate by a non-root caller (access.ts). */
  async function clearSetid(who: access.Credentials | null, fd: number): Promise<void> {
    if (!who || who.uid === 0) return;
    const st = await p.fstat(fd);
    const bits = access.setidToClear(who, st);
    if (bits) await p.fchmod(fd, st.mode & 0o7777 & ~bits);
  }

  /** A decision that needs the file's real attributes; a missing file is left to the operation. */
  const onFile =
    (path: string, decide: (who: access.Credentials, st: access.RealStat) => number) =>
    async (g: AccessGuard, who: access.Credentials) => {
      const st = await g.stat(path);
      return st ? decide(who, st) : 0;
    };
  const inParent = (path: string) => async (g: AccessGuard, who: access.Credentials) =>
    access.mayCreateIn(who, await g.parent(path));
  const deletable = (path: string) => async (g: AccessGuard, who: access.Credentials) => {
    const victim = await g.stat(path);
    return victim ? access.mayDelete(who, await g.parent(path), victim) : 0;
  };

  /** Answers the kernel once: `fn` resolves to the values after the 0 code, or throws. */
  function reply(cb: Callback, fn: () => Promise<unknown[] | number>): void {
    fn().then(
      (values) => (typeof values === 'number' ? cb(values) : cb(0, ...values)),
      (err) => cb(errnoOf(err, log)),
    );
  }

  function call(op: Operation, path: string, extra?: Partial<FsCall>): FsCall {
    return { op, methods: methodsOf(op), path: relative(path), ...extra };
  }

  /** A truncate, with the growth it makes told to the rules that account it (diskFull). */
  async function resize(firing: Parameters<typeof RulesGate.grew>[0], c: FsCall, fd: number, size: number) {
    const before = RulesGate.needsGrowth(firing) ? await c.currentSize!() : undefined;
    await p.ftruncate(fd, size);
    if (before !== undefined) RulesGate.grew(firing, size - before);
  }

  /** Runs `body` on the backing name for `path`, after the rules let the call through. */
  async function on<T>(
    op: Operation,
    path: string,
    body: (target: string, dir: string) => Promise<T>,
  ): Promise<T> {
    await gate.enter(call(op, path));
    const at = await backing.locate(path);
    try {
      return await body(at.path, at.dir);
    } finally {
      at.release();
    }
  }

  /**
   * New files belong to the process that made them, not to the privileged worker. `who` must be read
   * synchronously when the call arrives (fuse-native names the caller only then).
   */
  async function chownToCaller(target: string, who: Caller | undefined | null): Promise<void> {
    if (who && (who.uid !== 0 || who.gid !== 0)) await p.lchown(target, who.uid, who.gid);
  }

  async function attributes(
    op: Operation,
    path: string,
    stat: () => Promise<fs.BigIntStats>,
  ): Promise<unknown[]> {
    const c = call(op, path);
    const firing = await gate.enter(c);
    const attr = toAttributes(await stat());
    RulesGate.attributes(firing, c, attr);
    return [attr];
  }

  return {
    getattr(path: string, cb: Callback) {
      const who = guarded();
      reply(cb, () =>
        attributes('getattr', path, async () => {
          await check(who, path);
          const at = await backing.locate(path);
          try {
            return await p.lstat(at.path, { bigint: true });
          } finally {
            at.release();
          }
        }),
      );
    },

    fgetattr(path: string, fd: number, cb: Callback) {
      reply(cb, () => attributes('fgetattr', path, () => p.fstat(fd, { bigint: true })));
    },

    access(path: string, mode: number, cb: Callback) {
      const who = guarded();
      reply(cb, () =>
        on('access', path, async (target) => {
          await check(
            who,
            path,
            onFile(path, (w, st) => access.mayAccess(w, st, mode & 7)),
          );
          // access() follows a final symlink; a symlink's own permissions are always rwx anyway.
          if ((await p.lstat(target)).isSymbolicLink()) return [];
          await p.access(target, mode);
          return [];
        }),
      );
    },

    statfs(path: string, cb: Callback) {
      const who = guarded();
      reply(cb, () =>
        on('statfs', path, async (target) => {
          await check(who, path);
          const real = await p.statfs(target);
          const s = gate.space({ bsize: real.bsize, bfree: real.bfree, bavail: real.bavail });
          return [
            {
              bsize: s.bsize,
              frsize: s.bsize,
              blocks: real.blocks,
              bfree: s.bfree,
              bavail: s.bavail,
              files: real.files,
              ffree: real.ffree,
              favail: real.ffree,
              fsid: 0,
              flag: 0,
              namemax: 255,
            },
          ];
        }),
      );
    },

    readdir(path: string, cb: Callback) {
      const who = guarded();
      reply(cb, async () => {
        await gate.enter(call('readdir', path));
        await check(
          who,
          path,
          onFile(path, (w, st) => access.mayAccess(w, st, access.R)),
        );
        const dir = await backing.directory(split(path));
        try {
          return [['.', '..', ...(await p.readdir(dir.dir))]];
        } finally {
          dir.release();
        }
      });
    },

    readlink(path: string, cb: Callback) {
      const who = guarded();
      reply(cb, () =>
        on('readlink', path, async (target) => {
          await check(who, path);
          return [await p.readlink(target)];
        }),
      );
    },

    mknod(path: string, mode: number, dev: number, cb: Callback) {
      const who = caller?.();
      const creds = guarded();
      reply(cb, () =>
        on('mknod', path, async (target) => {
          await check(creds, path, inParent(path));
          mknod(target, mode, dev);
          await chownToCaller(target, who);
          return [];
        }),
      );
    },

    mkdir(path: string, mode: number, cb: Callback) {
      const who = caller?.();
      const creds = guarded();
      reply(cb, () =>
        on('mkdir', path, async (target) => {
          await check(creds, path, inParent(path));
          await p.mkdir(target, mode);
          await chownToCaller(target, who);
          return [];
        }),
      );
    },

    unlink(path: string, cb: Callback) {
      const who = guarded();
      reply(cb, () =>
        on('unlink', path, async (target) => {
          await check(who, path, deletable(path));
          await p.unlink(target);
          return [];
        }),
      );
    },

    rmdir(path: string, cb: Callback) {
      const who = guarded();
      reply(cb, () =>
        on('rmdir', path, async (target) => {
          await check(who, path, deletable(path));
          await p.rmdir(target);
          backing.invalidate(path);
          return [];
        }),
      );
    },

    symlink(linkTarget: string, path: string, cb: Callback) {
      const who = caller?.();
      const creds = guarded();
      reply(cb, () =>
        on('symlink', path, async (target) => {
          await check(creds, path, inParent(path));
          await p.symlink(linkTarget, target);
          await chownToCaller(target, who);
          return [];
        }),
      );
    },

    rename(src: string, dest: string, cb: Callback) {
      const who = guarded();
      reply(cb, async () => {
        await gate.enter(call('rename', src));
        await check(who, src, deletable(src));
        await check(who, dest, async (g, w) => {
          const moved = await g.stat(src);
          // A directory moved to another parent has its `..` rewritten: that needs write on it.
          if (
            moved &&
            (moved.mode & 0o170000) === 0o040000 &&
            split(src).slice(0, -1).join('/') !== split(dest).slice(0, -1).join('/')
          ) {
            const e = access.mayAccess(w, moved, access.W);
            if (e) return e;
          }
          return (await g.stat(dest)) ? deletable(dest)(g, w) : inParent(dest)(g, w);
        });
        const [from, to] = await Promise.all([backing.locate(src), backing.locate(dest)]);
        try {
          await p.rename(from.path, to.path);
          backing.invalidate(src);
          backing.invalidate(dest);
          return [];
        } finally {
          from.release();
          to.release();
        }
      });
    },

    link(src: string, dest: string, cb: Callback) {
      const who = guarded();
      reply(cb, async () => {
        await gate.enter(call('link', dest));
        await check(who, src, onFile(src, access.mayLink));
        await check(who, dest, inParent(dest));
        const [from, to] = await Promise.all([backing.locate(src), backing.locate(dest)]);
        try {
          await p.link(from.path, to.path); // link(2) does not follow a final symlink
          return [];
        } finally {
          from.release();
          to.release();
        }
      });
    },

    chmod(path: string, requested: number, cb: Callback) {
      const who = guarded();
      reply(cb, () =>
        on('chmod', path, async (target) => {
          let mode = requested;
          await check(
            who,
            path,
            onFile(path, (w, st) => {
              const d = access.mayChmod(w, st, requested);
              if ('errno' in d) return d.errno;
              mode = d.mode;
              return 0;
            }),
          );
          // chmod(2) follows a final symlink: change the file through an O_PATH fd of the name itself.
          const fd = await p.open(target, O_PATH | O_NOFOLLOW);
          try {
            await p.chmod(`/proc/self/fd/${fd}`, mode);
          } finally {
            await p.close(fd);
          }
          return [];
        }),
      );
    },

    chown(path: string, uid: number, gid: number, cb: Callback) {
      const who = guarded();
      reply(cb, () =>
        on('chown', path, async (target) => {
          await check(
            who,
            path,
            onFile(path, (w, st) => access.mayChown(w, st, uid, gid)),
          );
          await p.lchown(target, uid, gid);
          return [];
        }),
      );
    },

    truncate(path: string, size: number, cb: Callback) {
      const who = guarded();
      reply(cb, async () => {
        const sizeNow = async () => {
          const at = await backing.locate(path);
          try {
            return (await p.lstat(at.path)).size;
          } finally {
            at.release();
          }
        };
        const c = call('truncate', path, { size, currentSize: once(sizeNow) });
        const firing = await gate.enter(c);
        await check(
          who,
          path,
          onFile(path, (w, st) => access.mayAccess(w, st, access.W)),
        );
        const at = await backing.locate(path);
        try {
          const fd = await p.open(at.path, O_WRONLY | O_NOFOLLOW);
          try {
            await resize(firing, c, fd, size);
            await clearSetid(who, fd);
          } finally {
            await p.close(fd);
          }
        } finally {
          at.release();
        }
        return [];
      });
    },

    ftruncate(path: string, fd: number, size: number, cb: Callback) {
      const who = guarded();
      reply(cb, async () => {
        const c = call('ftruncate', path, { size, currentSize: once(async () => (await p.fstat(fd)).size) });
        const firing = await gate.enter(c);
        await resize(firing, c, fd, size);
        await clearSetid(who, fd);
        return [];
      });
    },

    utimens(path: string, atime: TimeSpec, mtime: TimeSpec, cb: Callback) {
      const who = guarded();
      const explicit = typeof atime === 'bigint' || typeof mtime === 'bigint';
      reply(cb, () =>
        on('utimens', path, async (target) => {
          if (atime !== 'omit' || mtime !== 'omit')
            await check(
              who,
              path,
              onFile(path, (w, st) => access.mayUtimens(w, st, explicit)),
            );
          utimensat(target, atime, mtime);
          return [];
        }),
      );
    },

    open(path: string, flags: number, cb: Callback) {
      const who = guarded();
      reply(cb, () =>
        on('open', path, async (target) => {
          await check(
            who,
            path,
            onFile(path, (w, st) => refuseSpecial(st) || access.mayOpen(w, st, flags)),
          );
          const fd = await p.open(target, backingFlags(flags));
          if (flags & fs.constants.O_TRUNC) await clearSetid(who, fd);
          return [fd];
        }),
      );
    },

    create(path: string, mode: number, cb: Callback) {
      const who = caller?.();
      const creds = guarded();
      reply(cb, () =>
        on('create', path, async (target) => {
          await check(creds, path, async (g, w) => {
            const existing = await g.stat(path);
            return existing ? access.mayOpen(w, existing, O_RDWR) : inParent(path)(g, w);
          });
          const fd = await p.open(target, O_CREAT | O_RDWR | O_NOFOLLOW, mode);
          await chownToCaller(target, who);
          return [fd];
        }),
      );
    },

    read(path: string, fd: number, buf: Buffer, length: number, position: number, cb: Callback) {
      reply(cb, async () => {
        const c = call('read', path, { length, offset: position });
        const firing = await gate.enter(c);
        const { bytesRead } = await p.read(fd, buf, 0, length, position);
        RulesGate.read(firing, c, buf.subarray(0, bytesRead));
        return bytesRead;
      });
    },

    write(path: string, fd: number, buf: Buffer, length: number, position: number, cb: Callback) {
      const who = guarded();
      reply(cb, async () => {
        const currentSize = once(async () => (await p.fstat(fd)).size);
        const c = call('write', path, { length, offset: position, currentSize });
        const firing = await gate.enter(c);
        const data = buf.subarray(0, length);
        RulesGate.write(firing, c, data);
        const growth = RulesGate.needsGrowth(firing) ? currentSize() : undefined;
        const { bytesWritten } = await p.write(fd, data, 0, length, position);
        if (growth) RulesGate.grew(firing, Math.max(0, position + bytesWritten - (await growth)));
        await clearSetid(who, fd);
        return bytesWritten;
      });
    },

    flush(path: string, _fd: number, cb: Callback) {
      // Backing fds stay open until release, so a close() of one of the app's dups has nothing to flush.
      reply(cb, async () => (await gate.enter(call('flush', path)), []));
    },

    fsync(path: string, fd: number, datasync: boolean, cb: Callback) {
      reply(cb, async () => {
        await gate.enter(call('fsync', path));
        await (datasync ? p.fdatasync(fd) : p.fsync(fd));
        return [];
      });
    },

    release(path: string, fd: number, cb: Callback) {
      // The fd is closed whatever a rule says: release cannot fail towards the app, and a leak would.
      reply(cb, async () => {
        await p.close(fd);
        return [];
      });
    },

    setxattr(path: string, name: string, value: Buffer, _position: number, flags: number, cb: Callback) {
      const who = guarded();
      reply(cb, () =>
        on('setxattr', path, async (target) => {
          await check(
            who,
            path,
            onFile(path, (w, st) => access.mayXattr(w, st, name, true)),
          );
          xattr.set(target, name, value, flags);
          return [];
        }),
      );
    },

    getxattr(path: string, name: string, _position: number, cb: Callback) {
      const who = guarded();
      reply(cb, () =>
        on('getxattr', path, async (target) => {
          await check(
            who,
            path,
            onFile(path, (w, st) => access.mayXattr(w, st, name, false)),
          );
          return [xattr.get(target, name)];
        }),
      );
    },

    listxattr(path: string, cb: Callback) {
      reply(cb, () => on('listxattr', path, async (target) => [xattr.list(target)]));
    },

    removexattr(path: string, name: string, cb: Callback) {
      const who = guarded();
      reply(cb, () =>
        on('removexattr', path, async (target) => {
          await check(
            who,
            path,
            onFile(path, (w, st) => access.mayXattr(w, st, name, true)),
          );
          xattr.remove(target, name);
          return [];
        }),
      );
    },
  };
}

/**
 * The kernel never sends an open for a device, fifo or socket on this mount (it serves them itself,
 * and the mount is nodev); one arrives only when an override reported it as a regular file. Opening
 * the real one as root would bypass nodev (EACCES), or block a worker on a fifo (ENXIO).
 */
function refuseSpecial(st: access.RealStat): number {
  const kind = st.mode & 0o170000;
  if (kind === 0o020000 || kind === 0o060000) return EACCES;
  if (kind === 0o010000 || kind === 0o140000) return ENXIO;
  return 0;
}

/** `fn`'s result, computed at most once (a file's size asked by several rules). */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= fn());
}

function errnoOf(err: unknown, log: Logger): number {
  if (err instanceof Refusal) return err.errno;
  const errno = (err as NodeJS.ErrnoException | undefined)?.errno;
  if (typeof errno === 'number' && Number.isInteger(errno) && errno < 0) return errno;
  if ((err as NodeJS.ErrnoException | undefined)?.code === 'ENOTSUP') return EOPNOTSUPP;
  log('unexpected error in a ChaosFS operation', err);
  return EIO;
}
