/**
 * utimensat(2) with nanosecond BigInt times and 'now'/'omit', from the N-API addon in native/addon
 * (built into native/build by node-gyp). For ChaosFS: fs.utimes has float seconds and no UTIME_OMIT.
 */
import * as path from 'node:path';
import { ROOT } from '../paths';

export type TimeSpec = bigint | 'now' | 'omit';

interface Addon {
  utimensat(dirfd: number, path: string | null, atime: TimeSpec, mtime: TimeSpec, flags: number): void;
  AT_FDCWD: number;
  AT_SYMLINK_NOFOLLOW: number;
}

let addon: Addon | undefined;

function load(): Addon {
  if (!addon) {
    const file =
      process.env.IOCHAOS_UTIMENS_ADDON ?? path.join(ROOT, 'native', 'build', 'Release', 'utimens.node');
    try {
      addon = require(file) as Addon;
    } catch (e) {
      throw new Error(`cannot load ${file} (run npm run build:native): ${(e as Error).message}`);
    }
  }
  return addon;
}

/**
 * Sets atime and mtime of `path` (nanoseconds since the epoch, 'now', or 'omit' to leave it).
 * Throws a Node-style error (.code 'ENOENT', .errno -2, .syscall 'utimensat', .path) on failure.
 */
export function utimensat(
  path: string,
  atime: TimeSpec,
  mtime: TimeSpec,
  opts: { noFollow?: boolean } = {},
): void {
  const a = load();
  a.utimensat(a.AT_FDCWD, path, atime, mtime, opts.noFollow ? a.AT_SYMLINK_NOFOLLOW : 0);
}

/**
 * The same, relative to a directory fd (beneath a backing root), or on the fd itself when `path`
 * is null (futimens).
 */
export function utimensatAt(
  dirfd: number,
  path: string | null,
  atime: TimeSpec,
  mtime: TimeSpec,
  opts: { noFollow?: boolean } = {},
): void {
  const a = load();
  a.utimensat(dirfd, path, atime, mtime, opts.noFollow ? a.AT_SYMLINK_NOFOLLOW : 0);
}
