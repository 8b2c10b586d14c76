/**
 * The system calls the daemon and the control server need that Node's fs lacks: openat2 and
 * SO_PEERCRED. They come from the project's N-API addon (native/addon/fsops.c), loaded on first use.
 * (ChaosFS's own calls are made in C by its FUSE binding, native/fuse-native.)
 *
 * All are synchronous: each is one short syscall, and they are rare.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../paths';
import { O_PATH } from './backing';

interface Addon {
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
