/**
 * The active rules of one ChaosFS mount. Rules are set, replaced and cleared while mounted; each has
 * an id, counters, and an AbortSignal that cuts its in-flight delays short when it goes away.
 */
import type { Rule } from '../api/fault-spec';
import type { Fault, FaultContext, FsCall } from './fault';
import { Filter } from './filter';
import { makeFault } from './kinds';
import { seededRandom } from './random';

export interface RuleStatus {
  id: string;
  rule: Rule;
  /** Calls whose path and method matched. */
  matched: number;
  /** Calls the rule fired on (after percent and times). */
  injected: number;
}

export class ActiveRule {
  readonly filter: Filter;
  readonly fault: Fault;
  readonly context: FaultContext;
  private readonly abort = new AbortController();
  matched = 0;
  injected = 0;

  constructor(
    readonly id: string,
    readonly rule: Rule,
  ) {
    const random = seededRandom(rule.seed);
    this.filter = new Filter(rule, random);
    this.fault = makeFault(rule);
    this.context = { random, signal: this.abort.signal };
  }

  retire(): void {
    this.abort.abort();
  }

  status(): RuleStatus {
    return { id: this.id, rule: this.rule, matched: this.matched, injected: this.injected };
  }
}

/** Told, synchronously, after each change with the rules now active. */
export type RuleSetListener = (rules: readonly Rule[]) => void;

export class RuleSet {
  private rules: ActiveRule[] = [];
  private nextId = 1;
  private readonly listeners: RuleSetListener[] = [];

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /**
   * Calls `listener` after every upsert, replace and clear, before that call returns: what depends on
   * the rules (ChaosFS's native fast path) is in step before the caller hears the change is made.
   */
  onChange(listener: RuleSetListener): void {
    this.listeners.push(listener);
  }

  /** Adds rules, replacing any active rule with the same id. Returns the ids. */
  upsert(rules: readonly Rule[]): string[] {
    const ids = this.add(rules);
    this.changed();
    return ids;
  }

  /** Replaces every rule. */
  replace(rules: readonly Rule[]): string[] {
    // One notification: the native fast path must not open, even briefly, between the clear and the add.
    this.remove(() => true);
    const ids = this.add(rules);
    this.changed();
    return ids;
  }

  /** Clears the given rules (all when none are named); returns the ids cleared. */
  clear(ids?: readonly string[]): string[] {
    const wanted = ids && new Set(ids);
    const cleared = this.remove((r) => !wanted || wanted.has(r.id));
    this.changed();
    return cleared;
  }

  /** Every active rule, in the order they were set. */
  get active(): readonly ActiveRule[] {
    return this.rules;
  }

  list(): RuleStatus[] {
    return this.rules.map((r) => r.status());
  }

  /** The rules that fire on this call, in the order they were set. */
  select(call: FsCall): ActiveRule[] {
    const firing: ActiveRule[] = [];
    for (const r of this.rules) {
      if (!r.filter.matches(call)) continue;
      r.matched++;
      if (!r.filter.fires()) continue;
      r.injected++;
      firing.push(r);
    }
    return firing;
  }

  private add(rules: readonly Rule[]): string[] {
    const fresh = rules.map((r) => new ActiveRule(r.id ?? `rule-${this.nextId++}`, r));
    const ids = new Set(fresh.map((r) => r.id));
    this.remove((r) => ids.has(r.id));
    this.rules = [...this.rules, ...fresh];
    return fresh.map((r) => r.id);
  }

  private changed(): void {
    const rules = this.rules.map((r) => r.rule);
    for (const listener of this.listeners) listener(rules);
  }

  private remove(pred: (r: ActiveRule) => boolean): string[] {
    const gone = this.rules.filter(pred);
    this.rules = this.rules.filter((r) => !pred(r));
    for (const r of gone) r.retire();
    return gone.map((r) => r.id);
  }
}
