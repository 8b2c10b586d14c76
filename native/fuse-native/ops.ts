/**
 * The binding's op names, in the order of src/fs.h's enum op (index.ts checks fuse3.node agrees).
 * A module of its own so that code which only names ops (the fault spec's method table) does not load
 * the native addon.
 */
/** Every op JS can be shown; rules name these (they are Chaos Mesh's method names). */
export const OPS = [
  'lookup',
  'getattr',
  'setattr',
  'readlink',
  'mknod',
  'mkdir',
  'unlink',
  'rmdir',
  'symlink',
  'rename',
  'link',
  'open',
  'read',
  'write',
  'flush',
  'release',
  'fsync',
  'opendir',
  'readdir',
  'releasedir',
  'fsyncdir',
  'statfs',
  'setxattr',
  'getxattr',
  'listxattr',
  'removexattr',
  'create',
  'fallocate',
  'copy_file_range',
  'lseek',
] as const;

export type Op = (typeof OPS)[number];
