/**
 * Which calls a rule applies to: `path` glob, `methods`, then `percent` and `times`. Path and method
 * are pure checks; percent and times consume randomness and a counter, so they are asked last and
 * only for calls that match.
 */
import picomatch from 'picomatch';
import type { Method, Rule } from '../api/fault-spec';
import type { FsCall } from './fault';
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
    // `dot`: a volume's files are the app's, hidden or not; `*` never crosses `/` in picomatch.
    this.pathMatches = rule.path === undefined ? () => true : picomatch(rule.path, { dot: true });
    this.methods = rule.methods && new Set(rule.methods);
    this.percent = rule.percent ?? 100;
    this.remaining = rule.times ?? Infinity;
  }

  /** Path and method only: no randomness, no counting. */
  matches(call: FsCall): boolean {
    if (this.methods && !call.methods.some((m) => this.methods!.has(m))) return false;
    return this.pathMatches(call.path);
  }

  /** For a matching call: does the rule fire this time? Counts towards `times`. */
  fires(): boolean {
    if (this.remaining <= 0) return false;
    if (this.percent < 100 && this.random() * 100 >= this.percent) return false;
    this.remaining--;
    return true;
  }

  get exhausted(): boolean {
    return this.remaining <= 0;
  }
}
