/**
 * The backing directory: the volume's real files, which ChaosFS passes calls through to.
 *
 * The app controls the volume's content, and the worker is privileged. So no backing path is ever
 * walked by the kernel from a string: every directory on the way is opened one component at a time
 * with O_PATH|O_NOFOLLOW|O_DIRECTORY beneath the root fd, and the final operation is done on
 * `/proc/self/fd/<parent>/<name>` with a call that does not follow a final symlink (lstat, lchown,
 * O_NOFOLLOW, unlink, rename, ...). A symlink or `..` planted by the app can therefore never lead out of
 * the volume into the sidecar's or the host's files.
 *
 * Directory fds are cached by relative path, as libfuse's passthrough_hp keeps an fd per inode: a call
 * costs one syscall instead of one per path component. Entries are reference-counted so an fd is never
 * closed (and its number reused) while a call still names it, and entries under a renamed or removed
 * directory are dropped. The cache assumes ChaosFS is the only writer of the volume's names while it is
 * mounted, which move & mount makes true (the app sees only the ChaosFS mount).
 *
 * The root itself is reached through `/proc/self/fd/<rootFd>`, never through the mount point, so the
 * worker never reads its own mount (which would deadlock libuv's thread pool).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { promisify } from 'node:util';

/** Not in fs.constants; the same value on x86_64 and aarch64. */
export const O_PATH = 0o10000000;
const DIR_FLAGS = O_PATH | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;
const MAX_CACHED_DIRS = 4096;

const openAsync = promisify(fs.open);

export class BackingPathError extends Error {
  readonly errno = -os.constants.errno.EINVAL;
  constructor(path: string) {
    super(`refusing path ${JSON.stringify(path)}: it has an empty, "." or ".." component`);
  }
}

interface DirEntry {
  fd: number;
  refs: number;
  dropped: boolean;
}

/** A held directory fd: `path` names it while held; call `release` when the operation is done. */
export interface DirLease {
  readonly dir: string;
  release(): void;
}

/** A name inside a held parent directory. */
export interface Located {
  /** `/proc/self/fd/<parent>/<name>`, or the root's fd path for the volume root itself. */
  readonly path: string;
  /** The parent's fd path, for operations that take a directory. */
  readonly dir: string;
  release(): void;
}

export class Backing {
  private readonly dirs = new Map<string, DirEntry>();
  private readonly rootPath: string;

  private constructor(readonly rootFd: number) {
    this.rootPath = `/proc/self/fd/${rootFd}`;
  }

  /**
   * Opens the backing root. `root` is trusted (the daemon resolved it safely, or it is an fd path it
   * holds); everything beneath it is not.
   */
  static async open(root: string): Promise<Backing> {
    const fd = await openAsync(root, O_PATH | fs.constants.O_DIRECTORY);
    return new Backing(fd);
  }

  /** The root as a path that reaches the backing without passing through any mount point. */
  get root(): string {
    return this.rootPath;
  }

  /** Resolves a FUSE path ("/a/b/c") to its parent directory fd and name. */
  async locate(fusePath: string): Promise<Located> {
    const parts = split(fusePath);
    // `/.` names the directory itself: a bare /proc/self/fd/N is a magic link, and lstat would say so.
    if (parts.length === 0) return { path: `${this.rootPath}/.`, dir: this.rootPath, release: () => {} };
    const name = parts.pop()!;
    const lease = await this.directory(parts);
    return { path: `${lease.dir}/${name}`, dir: lease.dir, release: lease.release };
  }

  /** Holds the directory at these components (relative to the root), opening it if not cached. */
  async directory(parts: readonly string[]): Promise<DirLease> {
    if (parts.length === 0) return { dir: this.rootPath, release: () => {} };
    const key = parts.join('/');
    const hit = this.dirs.get(key);
    if (hit && !hit.dropped) {
      // Re-insert to keep the Map in least-recently-used order.
      this.dirs.delete(key);
      this.dirs.set(key, hit);
      return this.hold(hit);
    }
    const parent = await this.directory(parts.slice(0, -1));
    let fd: number;
    try {
      fd = await openAsync(`${parent.dir}/${parts[parts.length - 1]}`, DIR_FLAGS);
    } finally {
      parent.release();
    }
    const raced = this.dirs.get(key);
    if (raced && !raced.dropped) {
      fs.close(fd, () => {});
      return this.hold(raced);
    }
    const entry: DirEntry = { fd, refs: 0, dropped: false };
    this.dirs.set(key, entry);
    this.evict();
    return this.hold(entry);
  }

  /** Forgets cached directories at or beneath this FUSE path (after a rename or rmdir of it). */
  invalidate(fusePath: string): void {
    const key = split(fusePath).join('/');
    for (const [k, entry] of this.dirs) {
      if (k === key || k.startsWith(key + '/')) this.drop(k, entry);
    }
  }

  close(): void {
    for (const [k, entry] of this.dirs) this.drop(k, entry);
    fs.closeSync(this.rootFd);
  }

  private hold(entry: DirEntry): DirLease {
    entry.refs++;
    let released = false;
    return {
      dir: `/proc/self/fd/${entry.fd}`,
      release: () => {
        if (released) return;
        released = true;
        entry.refs--;
        if (entry.dropped && entry.refs === 0) fs.close(entry.fd, () => {});
      },
    };
  }

  private drop(key: string, entry: DirEntry): void {
    this.dirs.delete(key);
    entry.dropped = true;
    if (entry.refs === 0) fs.close(entry.fd, () => {});
  }

  private evict(): void {
    if (this.dirs.size <= MAX_CACHED_DIRS) return;
    for (const [k, entry] of this.dirs) {
      if (this.dirs.size <= MAX_CACHED_DIRS) break;
      if (entry.refs === 0) this.drop(k, entry);
    }
  }
}

/** FUSE paths are absolute and already normalised by the kernel; anything else is refused. */
export function split(fusePath: string): string[] {
  if (fusePath === '/' || fusePath === '') return [];
  const parts = fusePath.replace(/^\//, '').split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) throw new BackingPathError(fusePath);
  return parts;
}

/** The path rules match against: relative to the volume root, no leading slash. */
export function relative(fusePath: string): string {
  return fusePath.replace(/^\/+/, '');
}
