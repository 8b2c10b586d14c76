/** Every fault kind, by its `action` name. */
import type { Action, Rule, RuleOf } from '../../api/fault-spec';
import type { Fault } from '../fault';
import { attrOverride } from './attr-override';
import { bandwidth } from './bandwidth';
import { diskFull } from './disk-full';
import { fault } from './errno';
import { latency } from './latency';
import { mistake } from './mistake';

const KINDS: { [A in Action]: (rule: RuleOf<A>) => Fault } = {
  latency,
  fault,
  attrOverride,
  mistake,
  bandwidth,
  diskFull,
};

export function makeFault(rule: Rule): Fault {
  return (KINDS[rule.action] as (r: Rule) => Fault)(rule);
}
