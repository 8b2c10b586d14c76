/** The control requests a single ChaosFS worker answers: its rules, and whether it is up. */
import { ControlError, type ControlRequest } from '../api/control';
import { parseRules } from '../api/fault-spec';
import type { RuleSet } from '../faults/rule-set';

/** `backingRoot`: a path to the original volume that stays valid after ChaosFS covers it (fdswap uses it). */
export function workerHandler(rules: RuleSet, backingRoot: string) {
  return async (req: ControlRequest): Promise<unknown> => {
    switch (req.op) {
      case 'health':
        return {
          healthy: true,
          role: 'worker',
          pid: process.pid,
          backingRoot: `/proc/${process.pid}${backingRoot.slice('/proc/self'.length)}`,
        };
      case 'rules.set': {
        const parsed = parseRules(req.rules);
        return { ids: req.replace ? rules.replace(parsed) : rules.upsert(parsed) };
      }
      case 'rules.clear':
        return { cleared: rules.clear(req.ids) };
      case 'rules.list':
        return { rules: rules.list() };
      default:
        throw new ControlError(
          'Unsupported',
          `"${req.op}" is for the chaosfs daemon; this socket is a single ChaosFS mount (rules.set, rules.clear, rules.list, health)`,
        );
    }
  };
}
