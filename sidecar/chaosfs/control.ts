/** The control requests a single ChaosFS worker answers: its rules, and whether it is up. */
import { ControlError, type ControlRequest, type OpCalls } from '../api/control';
import { MAX_RULES, parseRules, tooManyRules } from '../api/fault-spec';
import type { RuleSet } from '../faults/rule-set';

/** What the worker's control socket acts on (a ChaosFs). */
export interface WorkerTarget {
  readonly rules: RuleSet;
  /** A path to the original volume that stays valid after ChaosFS covers it (fdswap uses it). */
  readonly backingRoot: string;
  /** Resolves once a rule change applies to every call (the kernel forgot what it cached). */
  settled(): Promise<void>;
  /** Brings the counters of natively served rules up to date. */
  refreshCounts(): void;
  /** Per operation, calls served natively and in JS (absent without FUSE, null once unmounting). */
  stats?(): { nativeCalls: OpCalls; jsCalls: OpCalls } | null;
}

/** Every call per op, however it was served; ops never called are left out. */
export function opCalls(stats: { nativeCalls: OpCalls; jsCalls: OpCalls } | null | undefined): OpCalls {
  const calls: OpCalls = {};
  if (!stats) return calls;
  for (const [op, n] of Object.entries(stats.nativeCalls)) {
    const total = n + (stats.jsCalls[op] ?? 0);
    if (total > 0) calls[op] = total;
  }
  return calls;
}

export function workerHandler(target: WorkerTarget) {
  const { rules, backingRoot } = target;
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
        // Rules added one request at a time must not pile up past the limit either.
        const kept = new Set(parsed.map((r) => r.id));
        const count = req.replace
          ? parsed.length
          : parsed.length + rules.list().filter((r) => !kept.has(r.id)).length;
        if (count > MAX_RULES) throw new ControlError('BadRequest', `rules: ${tooManyRules(count)}`, 'rules');
        const ids = req.replace ? rules.replace(parsed) : rules.upsert(parsed);
        await target.settled();
        return { ids };
      }
      case 'rules.clear': {
        const cleared = rules.clear(req.ids);
        await target.settled();
        return { cleared };
      }
      case 'rules.list':
        target.refreshCounts();
        return { rules: rules.list(), calls: opCalls(target.stats?.()) };
      default:
        throw new ControlError(
          'Unsupported',
          `"${req.op}" is for the chaosfs daemon; this socket is a single ChaosFS mount (rules.set, rules.clear, rules.list, health)`,
        );
    }
  };
}
