/**
 * Which of Chaos Mesh's method names each ChaosFS operation answers to.
 *
 * ChaosFS serves libfuse3's low-level (inode) API (native/fuse-native), whose ops carry Chaos Mesh's
 * names: a rule's method is the op's own name. Three ops have no method name (fallocate,
 * copy_file_range, lseek): only a rule that names no methods reaches them. `forget`, `getlk`, `setlk`
 * and `bmap` never reach a pass-through (the kernel keeps inode lifetimes, locks and block maps), nor
 * does `access` (the mount uses default_permissions, so the kernel checks access itself): the fault
 * spec refuses a rule naming only these.
 */
import { METHODS, type Method } from '../api/fault-spec';
import { OPS, type Op } from '../../native/fuse-native/ops';

/** Every ChaosFS operation (the binding's ops). */
export const OPERATIONS = OPS;

export type Operation = Op;

const NAMED: ReadonlySet<string> = new Set(METHODS);

/** The method names under which a rule sees this operation. */
export function methodsOf(op: Operation): readonly Method[] {
  return NAMED.has(op) ? [op as Method] : [];
}

/**
 * The inverse of methodsOf: the operations a rule with these `methods` can match (every operation
 * when a rule names none).
 */
export function operationsMatching(methods: readonly Method[] | undefined): Operation[] {
  if (!methods) return [...OPERATIONS];
  const wanted = new Set<string>(methods);
  return OPERATIONS.filter((op) => wanted.has(op));
}
