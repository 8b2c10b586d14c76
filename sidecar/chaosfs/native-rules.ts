/**
 * The active rules in the form the binding decides with in C (native/fuse-native: op mask, path glob,
 * percent, delay), so that only calls a rule will act on cross into JavaScript:
 *
 * - a rule's ops are its methods narrowed to what its kind can act on (a corruption only reads and
 *   writes, an attribute override only replies with attributes, ...);
 * - a plain delay (latency without jitter, times or seed) is served natively and never reaches JS;
 * - the percent is drawn in C, except for a rule with a seed, whose draws JS makes (reproducible);
 * - while a diskFull rule is on, statfs reaches JS (`df` shows what is left, whatever its methods);
 * - a size override makes its files' opens direct_io (a rule on read/write that never fires: the binding
 *   opens direct_io what such a rule could match), else the kernel would cut reads at the size it was
 *   told and the app would read less than the file holds.
 *
 * `slots[k]` says what native rule k stands for, so that a call shown to JS with `rules: [k, ...]`
 * finds its rules without filtering again. Over the binding's 64 rules, one catch-all rule sends every
 * call to JS, which then selects the rules itself.
 */
import type { Action, Rule } from '../api/fault-spec';
import { operationsMatching, OPERATIONS, type Operation } from '../faults/methods';
import type { ActiveRule } from '../faults/rule-set';
import type { NativeRule } from '../../native/fuse-native/index';

const MAX_NATIVE_RULES = 64;

/** The ops each kind can act on (a rule's methods narrow them further). */
const KIND_OPS: { [A in Action]: readonly Operation[] | 'all' } = {
  latency: 'all',
  fault: 'all',
  bandwidth: ['read', 'write'],
  mistake: ['read', 'write'],
  attrOverride: ['lookup', 'getattr', 'setattr'],
  // Growth (write, truncate by setattr) and new names once nothing is left (disk-full.ts).
  diskFull: ['write', 'setattr', 'create', 'mkdir', 'mknod'],
};

export type Slot =
  /** A rule JS acts on; `drawn`: its percent was drawn natively. */
  | { kind: 'js'; rule: ActiveRule; drawn: boolean }
  /** A plain delay served natively: JS only reads its counters. */
  | { kind: 'delay'; rule: ActiveRule }
  /** statfs, for the free space a diskFull rule reports. */
  | { kind: 'space' }
  /** Never fires: only turns the page cache off for what it could match. */
  | { kind: 'uncached' };

export interface Compiled {
  rules: NativeRule[];
  /** Null when every call goes to JS, which selects the rules itself (more than the binding holds). */
  slots: Slot[] | null;
}

export function opsOf(rule: Rule): Operation[] {
  const kind = KIND_OPS[rule.action];
  const named = operationsMatching(rule.methods);
  return kind === 'all' ? named : named.filter((op) => kind.includes(op));
}

function isPlainDelay(rule: Rule): boolean {
  return rule.action === 'latency' && !rule.jitter && rule.times === undefined && rule.seed === undefined;
}

export function compile(active: readonly ActiveRule[]): Compiled {
  const rules: NativeRule[] = [];
  const slots: Slot[] = [];
  for (const r of active) {
    const { rule } = r;
    const ops = opsOf(rule);
    if (ops.length === 0) continue;
    const base = { ops, glob: rule.path };
    if (rule.action === 'latency' && isPlainDelay(rule)) {
      rules.push({ ...base, percent: rule.percent, delayUs: Math.round(rule.delay * 1000) });
      slots.push({ kind: 'delay', rule: r });
    } else {
      const drawn = rule.seed === undefined;
      rules.push({ ...base, percent: drawn ? rule.percent : 100, js: true });
      slots.push({ kind: 'js', rule: r, drawn });
    }
    if (rule.action === 'attrOverride' && rule.attr.size !== undefined) {
      rules.push({ ops: ['read', 'write'], glob: rule.path, percent: 0 });
      slots.push({ kind: 'uncached' });
    }
  }
  if (active.some((r) => r.rule.action === 'diskFull')) {
    rules.push({ ops: ['statfs'], js: true });
    slots.push({ kind: 'space' });
  }
  if (rules.length > MAX_NATIVE_RULES) return { rules: [{ ops: OPERATIONS, js: true }], slots: null };
  return { rules, slots };
}
