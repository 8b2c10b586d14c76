/** `fault`: fail the call with `errno`, or with one of `faults` picked by weight. */
import type { RuleOf } from '../../api/fault-spec';
import type { Fault } from '../fault';

export function fault(rule: RuleOf<'fault'>): Fault {
  const choices = rule.faults ?? [{ errno: rule.errno!, weight: 1 }];
  const total = choices.reduce((sum, c) => sum + c.weight, 0);
  return {
    before(_call, { random }) {
      let pick = random() * total;
      for (const c of choices) {
        pick -= c.weight;
        if (pick < 0) return c.errno;
      }
      return choices[choices.length - 1].errno;
    },
  };
}
