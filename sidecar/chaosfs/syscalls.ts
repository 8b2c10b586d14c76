/**
 * The system calls ChaosFS needs that Node's fs lacks: utimensat with nanoseconds, UTIME_NOW and
 * UTIME_OMIT; mknod; and the l*xattr calls. They come from the project's N-API addons (native/addon/fsops.c, utimens.c),
 * loaded on first use so that a file system that never sees these calls never needs it.
 *
 * All are synchronous: each is one short syscall on a local backing file, and they are rare.
 */
import * as path from 'node:path';
import { ROOT } from '../paths';
import { utimensat as kernelUtimensat, type TimeSpec } from '../kernel/utimens';

export type { TimeSpec };

interface Addon {
  mknod(path: string, mode: number, dev: number): void;
  lgetxattr(path: string, name: string): Buffer;
  lsetxattr(path: string, name: string, value: Buffer, flags: number): void;
  llistxattr(path: string): string[];
  lremovexattr(path: string, name: string): void;
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
