/**
 * `diskFull`: ENOSPC for a write once the volume has grown by `limit` bytes since the rule was set.
 * Growth is what writes through ChaosFS add beyond a file's end; space freed meanwhile is not given
 * back, as on a thin-provisioned volume that has run out.
 */
import * as os from 'node:os';
import type { RuleOf } from '../../api/fault-spec';
import type { Fault } from '../fault';

const ENOSPC = os.constants.errno.ENOSPC;

export function diskFull(rule: RuleOf<'diskFull'>): Fault {
  let grown = 0;
  return {
    async before(call) {
      if (call.op !== 'write' && call.op !== 'create' && call.op !== 'mkdir' && call.op !== 'mknod') return;
      if (grown >= rule.limit) return ENOSPC;
      if (call.op !== 'write' || !call.currentSize) return;
      const end = (call.offset ?? 0) + (call.length ?? 0);
      const growth = Math.max(0, end - (await call.currentSize()));
      if (grown + growth > rule.limit) return ENOSPC;
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
