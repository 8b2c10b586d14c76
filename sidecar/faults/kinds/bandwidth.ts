/**
 * `bandwidth`: cap the bytes per second of the reads and writes the rule matches. One reservation
 * cursor per rule, so concurrent callers share the cap instead of each getting it.
 */
import type { RuleOf } from '../../api/fault-spec';
import type { Fault } from '../fault';
import { systemClock, type Clock } from '../wait';

export function bandwidth(rule: RuleOf<'bandwidth'>, clock: Clock = systemClock): Fault {
  let cursor = 0; // ms timestamp at which the cap's capacity is next free
  return {
    async before(call, { signal }) {
      const bytes = call.length ?? 0;
      if (bytes === 0) return;
      const now = clock.now();
      const start = Math.max(now, cursor);
      cursor = start + (bytes / rule.rate) * 1000;
      await clock.wait(cursor - now, signal);
    },
  };
}
