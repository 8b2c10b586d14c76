/**
 * Where a call meets the rules: the hooks of every firing rule, in order. With no rule set, the
 * pass-through pays one property read.
 */
import type { Attributes, FsCall, Space } from '../faults/fault';
import type { ActiveRule, RuleSet } from '../faults/rule-set';

/** Thrown to answer the kernel with an errno (negative, as fuse-native wants it). */
export class Refusal {
  constructor(readonly errno: number) {}
}

const NONE: readonly ActiveRule[] = [];

export class RulesGate {
  constructor(readonly rules: RuleSet) {}

  /** Runs every firing rule's `before`; throws a Refusal if one fails the call. */
  async enter(call: FsCall): Promise<readonly ActiveRule[]> {
    if (this.rules.empty) return NONE;
    const firing = this.rules.select(call);
    for (const r of firing) {
      const errno = await r.fault.before?.(call, r.context);
      if (typeof errno === 'number' && errno > 0) throw new Refusal(-errno);
    }
    return firing;
  }

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
  space(s: Space): Space {
    return this.rules.active.reduce((acc, r) => r.fault.space?.(acc) ?? acc, s);
  }

  /** Whether any firing rule needs to know how much a write grows the file. */
  static needsGrowth(firing: readonly ActiveRule[]): boolean {
    return firing.some((r) => r.fault.grew !== undefined);
  }
}
