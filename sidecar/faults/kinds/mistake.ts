/**
 * `mistake`: corrupt up to `maxOccurrences` runs of at most `maxLength` bytes each, with zeros or
 * random bytes, in what a read returns and/or what a write stores (selected by the rule's methods).
 */
import type { RuleOf } from '../../api/fault-spec';
import type { Fault, FaultContext, FsCall } from '../fault';

export function mistake(rule: RuleOf<'mistake'>): Fault {
  const { filling, maxOccurrences, maxLength } = rule.mistake;
  const corrupt = (_call: FsCall, data: Buffer, { random }: FaultContext) => {
    if (data.length === 0) return;
    const occurrences = 1 + Math.floor(random() * maxOccurrences);
    for (let i = 0; i < occurrences; i++) {
      const length = Math.min(1 + Math.floor(random() * maxLength), data.length);
      const start = Math.floor(random() * (data.length - length + 1));
      for (let j = start; j < start + length; j++) {
        // A random fill must change the byte, or a "mistake" could leave the data intact.
        data[j] = filling === 'zero' ? 0 : (data[j] + 1 + Math.floor(random() * 255)) & 0xff;
      }
    }
  };
  return { read: corrupt, write: corrupt };
}
