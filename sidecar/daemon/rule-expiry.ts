/**
 * Rule lifetimes. A rule's `duration` starts when the rule is set (an added rule's clock is its own);
 * when it ends the rule comes off, and when the last rule of an injection is gone the injection
 * recovers. A rule given again (same id) restarts its clock; one without a duration stays until it is
 * cleared or the injection recovers.
 */
import { parseDurationMs, type RuleInput } from '../api/fault-spec';
import type { RuleStatus } from '../faults/rule-set';
import { schedule, type Scheduled } from '../timers';

export interface ExpiringRuleStatus extends RuleStatus {
  /** When the daemon takes the rule off (ISO time); absent for a rule without a duration. */
  expiresAt?: string;
}

export class RuleExpiry {
  private readonly due = new Map<string, { at: number; timer: Scheduled }>();

  constructor(private readonly expired: (id: string) => void) {}

  /** Starts (or restarts) the clock of each rule that has a duration; others lose any clock they had. */
  schedule(rules: readonly RuleInput[], now = Date.now()): void {
    for (const rule of rules) {
      const id = rule.id!;
      this.cancel([id]);
      const ms = rule.duration === undefined ? undefined : parseDurationMs(rule.duration);
      if (ms !== undefined) this.arm(id, now + ms);
    }
  }

  private arm(id: string, at: number): void {
    const timer = schedule(() => {
      this.due.delete(id);
      this.expired(id);
    }, at - Date.now());
    this.due.set(id, { at, timer });
  }

  cancel(ids?: readonly string[]): void {
    for (const id of ids ?? [...this.due.keys()]) {
      this.due.get(id)?.timer.cancel();
      this.due.delete(id);
    }
  }

  expiresAt(id: string): string | undefined {
    const at = this.due.get(id)?.at;
    return at === undefined ? undefined : new Date(at).toISOString();
  }

  /** When the injection recovers by itself: when its last rule ends, if every rule has an end. */
  endsAt(ids: readonly string[]): string | undefined {
    const ends = ids.map((id) => this.due.get(id)?.at);
    if (ends.length === 0 || ends.some((at) => at === undefined)) return undefined;
    return new Date(Math.max(...(ends as number[]))).toISOString();
  }

  withExpiry(statuses: readonly RuleStatus[]): ExpiringRuleStatus[] {
    return statuses.map((s) => {
      const expiresAt = this.expiresAt(s.id);
      return expiresAt ? { ...s, expiresAt } : s;
    });
  }
}

/**
 * Every rule gets an id before it is stored, so that it can expire, be replaced and be cleared by name:
 * the given one, or the next free `rule-N`. `duration` fills in for rules that give none (an inject
 * request's duration, as older clients send it).
 */
export function withIds(
  rules: readonly RuleInput[],
  existing: readonly RuleInput[],
  duration?: string,
): RuleInput[] {
  const taken = new Set([...existing, ...rules].map((r) => r.id).filter((id) => id !== undefined));
  let n = 1;
  return rules.map((r) => {
    let id = r.id;
    if (id === undefined) {
      while (taken.has(`rule-${n}`)) n++;
      id = `rule-${n}`;
      taken.add(id);
    }
    return { ...r, id, ...(r.duration === undefined && duration !== undefined ? { duration } : {}) };
  });
}
