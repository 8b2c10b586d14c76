/** `latency`: delay the call by `delay` ± `jitter`, spread uniformly. */
import type { RuleOf } from '../../api/fault-spec';
import type { Fault } from '../fault';
import { systemClock, type Clock } from '../wait';

export function latency(rule: RuleOf<'latency'>, clock: Clock = systemClock): Fault {
  const jitter = rule.jitter ?? 0;
  return {
    async before(_call, { random, signal }) {
      const ms = rule.delay + (jitter > 0 ? (random() * 2 - 1) * jitter : 0);
      await clock.wait(ms, signal);
    },
  };
}
