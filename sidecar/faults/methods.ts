/**
 * Which of Chaos Mesh's method names each ChaosFS operation answers to.
 *
 * ChaosFS uses libfuse's high-level (path) API, where the kernel's LOOKUP arrives as a getattr and
 * SETATTR is split into chmod, chown, truncate and utimens. So:
 *
 * | ChaosFS operation                          | methods a rule can name |
 * |--------------------------------------------|-------------------------|
 * | getattr, fgetattr                          | getattr, lookup         |
 * | chmod, chown, truncate, ftruncate, utimens | setattr                 |
 * | every other operation                      | its own name            |
 *
 * `forget`, `getlk`, `setlk` and `bmap` never reach a path-based pass-through (the kernel handles locks
 * locally), and ChaosFS has no opendir, releasedir or fsyncdir: the fault spec refuses a rule naming only these.
 */
import type { Method } from '../api/fault-spec';

/** Every ChaosFS operation (the fuse-native handlers operations.ts implements). */
export const OPERATIONS = [
  'getattr',
  'fgetattr',
  'access',
  'statfs',
  'readdir',
  'readlink',
  'mknod',
  'mkdir',
  'unlink',
  'rmdir',
  'symlink',
  'rename',
  'link',
  'chmod',
  'chown',
  'truncate',
  'ftruncate',
  'utimens',
  'open',
  'create',
  'read',
  'write',
  'flush',
  'fsync',
  'release',
  'setxattr',
  'getxattr',
  'listxattr',
  'removexattr',
] as const;

export type Operation = (typeof OPERATIONS)[number];

const SPECIAL: Partial<Record<Operation, readonly Method[]>> = {
  getattr: ['getattr', 'lookup'],
  fgetattr: ['getattr', 'lookup'],
  chmod: ['setattr'],
  chown: ['setattr'],
  truncate: ['setattr'],
  ftruncate: ['setattr'],
  utimens: ['setattr'],
};

/** The method names under which a rule sees this operation. */
export function methodsOf(op: Operation): readonly Method[] {
  return SPECIAL[op] ?? [op as Method];
}

/**
 * The inverse of methodsOf: the operations a rule with these `methods` can match (every operation
 * when a rule names none).
 */
export function operationsMatching(methods: readonly Method[] | undefined): Operation[] {
  if (!methods) return [...OPERATIONS];
  const wanted = new Set(methods);
  return OPERATIONS.filter((op) => methodsOf(op).some((m) => wanted.has(m)));
}
