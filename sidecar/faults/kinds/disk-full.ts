/**
 * `diskFull`: ENOSPC once the volume has grown by `limit` bytes since the rule was set. Growth is what
 * writes and truncates through ChaosFS add beyond a file's end; space freed meanwhile is not given
 * back, as on a thin-provisioned volume that has run out. New names (create, mkdir, mknod) fail once
 * nothing is left.
 */
import * as os from 'node:os';
import type { RuleOf } from '../../api/fault-spec';
import type { Fault, FsCall } from '../fault';

const ENOSPC = os.constants.errno.ENOSPC;
const NEW_NAMES: ReadonlySet<string> = new Set(['create', 'mkdir', 'mknod']);

/** Where a write or a truncate would leave the file's end; undefined for other calls. */
function newEnd(call: FsCall): number | undefined {
  if (call.op === 'write') return (call.offset ?? 0) + (call.length ?? 0);
  return call.size;
}

export function diskFull(rule: RuleOf<'diskFull'>): Fault {
  let grown = 0;
  return {
    async before(call) {
      const end = newEnd(call);
      if (end === undefined) return NEW_NAMES.has(call.op) && grown >= rule.limit ? ENOSPC : undefined;
      // Without the file's size the growth is unknown: refuse once nothing at all is left.
      if (!call.currentSize) return grown >= rule.limit ? ENOSPC : undefined;
      const growth = Math.max(0, end - (await call.currentSize()));
      if (growth > 0 && grown + growth > rule.limit) return ENOSPC;
    },
    grew(bytes) {
      grown += bytes;
    },
    // What is left of the limit is all `df` shows free, so the app can see the disk is full.
    space(s) {
      const left = Math.floor(Math.max(0, rule.limit - grown) / s.bsize);
      return { ...s, bfree: Math.min(s.bfree, left), bavail: Math.min(s.bavail, left) };
    },
  };
}
