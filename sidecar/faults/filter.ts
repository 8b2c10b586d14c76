/**
 * Which calls a rule applies to: `path` glob, `methods`, then `percent` and `times`. Path and method
 * are pure checks; percent and times consume randomness and a counter, so they are asked last and
 * only for calls that match.
 */
import type { Method, Rule } from '../api/fault-spec';
import type { FsCall } from './fault';
import { compileGlob } from './glob';
import type { Random } from './random';

export class Filter {
  private readonly pathMatches: (path: string) => boolean;
  private readonly methods?: ReadonlySet<Method>;
  private readonly percent: number;
  private remaining: number;

  constructor(
    rule: Rule,
    private readonly random: Random,
  ) {
    // Linear time on names the app chooses (glob.ts); picomatch's meaning with `dot: true`.
    this.pathMatches = rule.path === undefined ? () => true : compileGlob(rule.path);
    this.methods = rule.methods && new Set(rule.methods);
    this.percent = rule.percent ?? 100;
    this.remaining = rule.times ?? Infinity;
  }

  /** Path and method only: no randomness, no counting. */
  matches(call: FsCall): boolean {
    if (this.methods && !call.methods.some((m) => this.methods!.has(m))) return false;
    return this.pathMatches(call.path);
  }

  /**
   * For a matching call: does the rule fire this time? Counts towards `times`. `drawn`: the percent
   * was already drawn (natively, in ChaosFS), so only `times` is left to decide.
   */
  fires(drawn = false): boolean {
    if (this.remaining <= 0) return false;
    if (!drawn && this.percent < 100 && this.random() * 100 >= this.percent) return false;
    this.remaining--;
    return true;
  }

  get exhausted(): boolean {
    return this.remaining <= 0;
  }
}
