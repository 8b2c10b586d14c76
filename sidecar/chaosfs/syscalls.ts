/**
 * The system calls ChaosFS and the daemon need that Node's fs lacks: utimensat with nanoseconds, UTIME_NOW and
 * UTIME_OMIT; mknod; the l*xattr calls; and openat2. They come from the project's N-API addons (native/addon/fsops.c, utimens.c),
 * loaded on first use so that a file system that never sees these calls never needs it.
 *
 * All are synchronous: each is one short syscall on a local backing file, and they are rare.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../paths';
import { O_PATH } from './backing';
import { utimensat as kernelUtimensat, type TimeSpec } from '../kernel/utimens';

export type { TimeSpec };

interface Addon {
  mknod(path: string, mode: number, dev: number): void;
  lgetxattr(path: string, name: string): Buffer;
  lsetxattr(path: string, name: string, value: Buffer, flags: number): void;
  llistxattr(path: string): string[];
  lremovexattr(path: string, name: string): void;
  openat2(dirfd: number, path: string, flags: number, resolve: number): number;
  peerCred(fd: number): PeerCred;
}

/** The credentials the kernel recorded for a unix socket's peer when it connected. */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

let addon: Addon | undefined;
function load(): Addon {
  addon ??= require(
    process.env.IOCHAOS_FSOPS_ADDON ?? path.join(ROOT, 'native', 'build', 'Release', 'fsops.node'),
  ) as Addon;
  return addon;
}

/** Sets both times of a name without following a final symlink. */
export function utimensat(target: string, atime: TimeSpec, mtime: TimeSpec): void {
  kernelUtimensat(target, atime, mtime, { noFollow: true });
}

export function mknod(target: string, mode: number, dev: number): void {
  load().mknod(target, mode, dev);
}

export const xattr = {
  get: (target: string, name: string): Buffer => load().lgetxattr(target, name),
  set: (target: string, name: string, value: Buffer, flags: number): void =>
    load().lsetxattr(target, name, value, flags),
  list: (target: string): string[] => load().llistxattr(target),
  remove: (target: string, name: string): void => load().lremovexattr(target, name),
};

/** SO_PEERCRED of a connected unix socket. */
export function peerCred(fd: number): PeerCred {
  return load().peerCred(fd);
}

const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_NO_SYMLINKS = 0x04;
const RESOLVE_IN_ROOT = 0x10;

/**
 * Opens `path` as a directory (O_PATH) inside the root directory `root` (e.g. /proc/PID/root): `/` and
 * `..` stay inside it and no symlink is followed anywhere on the way, whatever the path's owner does
 * meanwhile. The caller closes the fd.
 */
export function openDirInRoot(root: string, path: string): number {
  const rootFd = fs.openSync(root, O_PATH | fs.constants.O_DIRECTORY);
  try {
    return load().openat2(
      rootFd,
      path,
      O_PATH | fs.constants.O_DIRECTORY | 0o2000000 /* O_CLOEXEC */,
      RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    );
  } finally {
    fs.closeSync(rootFd);
  }
}
