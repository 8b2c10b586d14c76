/**
 * Where a call meets the faults of the rules that fired on it: each hook of every firing rule, in the
 * order the rules were set (calls.ts decides when).
 */
import type { Attributes, FsCall, Space } from '../faults/fault';
import type { ActiveRule, RuleSet } from '../faults/rule-set';

export class RulesGate {
  static read(firing: readonly ActiveRule[], call: FsCall, data: Buffer): void {
    for (const r of firing) r.fault.read?.(call, data, r.context);
  }

  static write(firing: readonly ActiveRule[], call: FsCall, data: Buffer): void {
    for (const r of firing) r.fault.write?.(call, data, r.context);
  }

  static grew(firing: readonly ActiveRule[], bytes: number): void {
    if (bytes > 0) for (const r of firing) r.fault.grew?.(bytes);
  }

  static attributes(firing: readonly ActiveRule[], call: FsCall, attr: Attributes): void {
    for (const r of firing) r.fault.attributes?.(call, attr, r.context);
  }

  /** The free space `df` is told: every rule may lower it (a full disk is full for every path). */
  static space(rules: RuleSet, s: Space): Space {
    return rules.active.reduce((acc, r) => r.fault.space?.(acc) ?? acc, s);
  }

  /** Whether any firing rule needs to know how much a write grows the file. */
  static needsGrowth(firing: readonly ActiveRule[]): boolean {
    return firing.some((r) => r.fault.grew !== undefined);
  }
}
