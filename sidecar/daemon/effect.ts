/**
 * Proof of effect: "did my IOChaos do anything?". A rule that matched no call in its first
 * `afterMs` (30 s unless IOCHAOS_HINT_AFTER says otherwise), or matched calls but fired on none, gets a
 * hint that says what to check, in the words of the rule and of what the app really called.
 */
import type { OpCalls } from '../api/control';
import { parseDurationMs, type Rule } from '../api/fault-spec';

/** How long a rule may match nothing before status says so. */
export const DEFAULT_HINT_AFTER_MS = 30_000;

/**
 * The threshold, from IOCHAOS_HINT_AFTER (a Go-style duration, e.g. `2s`; tests shorten it). A value
 * that does not parse is refused at daemon start, not ignored.
 */
export function hintAfterMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.IOCHAOS_HINT_AFTER;
  if (text === undefined || text === '') return DEFAULT_HINT_AFTER_MS;
  const ms = parseDurationMs(text);
  if (ms === undefined || !Number.isFinite(ms) || ms < 0)
    throw new Error(`IOCHAOS_HINT_AFTER: "${text}" is not a duration: give one like 30s or 500ms`);
  return ms;
}

export interface HintInput {
  rule: Rule;
  matched: number;
  injected: number;
  /** When the rule was set (ms since the epoch). */
  setAt: number;
  now: number;
  volumePath: string;
  /** What the app called on the volume, per op, since the injection. */
  calls: OpCalls;
  afterMs: number;
}

/** The ops the app calls most, busiest first: `read ×120, getattr ×31, open ×12`. */
export function busiestOps(calls: OpCalls, count = 5): string {
  return Object.entries(calls)
    .filter(([, n]) => n > 0)
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .slice(0, count)
    .map(([op, n]) => `${op} ×${n}`)
    .join(', ');
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** What to check about a rule that does nothing yet; undefined while it acts or is still young. */
export function ruleHint(i: HintInput): string | undefined {
  if (i.now - i.setAt < i.afterMs) return undefined;
  const { rule } = i;
  if (i.matched === 0) {
    const glob = rule.path === undefined ? 'every path' : `"${rule.path}"`;
    const methods = rule.methods ? rule.methods.join(', ') : 'all';
    const called = busiestOps(i.calls);
    const app = called
      ? `the app called ${called}`
      : `the app made no call on ${i.volumePath} at all: is it the volume the app uses?`;
    // A percent drawn in C (no seed) counts only the calls that won the draw as matched.
    const drawn =
      rule.percent !== undefined && rule.percent < 100 && rule.seed === undefined
        ? ` Its percent (${rule.percent}) is drawn before a call counts as matched: a low one can also leave it at 0.`
        : '';
    return (
      `matched no call in its first ${seconds(i.afterMs)}: check its path glob ${glob} ` +
      `(relative to the volume ${i.volumePath}) and its methods (${methods}); ${app}. ` +
      `Mapped I/O (mmap) reaches rules only at page-fault granularity, not per read or write.${drawn}`
    );
  }
  if (i.injected === 0) {
    const limits = [
      rule.percent !== undefined ? `percent ${rule.percent}` : undefined,
      rule.times !== undefined ? `times ${rule.times}` : undefined,
    ].filter(Boolean);
    const why = limits.length ? `its ${limits.join(' and ')} let none fire` : 'it fired on none of them';
    return `matched ${i.matched} call(s) but fired on none: ${why}. Raise percent, or give it more calls.`;
  }
  return undefined;
}
