/**
 * Timers for any duration. Node's setTimeout holds at most 2^31-1 ms (24.8 days) and turns anything
 * longer into 1 ms (with only a warning): a `duration "600h"` recovered at once and a `delay "600h"`
 * delayed nothing. These chain timeouts of at most that length, so a long duration is as long as
 * asked, whatever the schema lets through (Infinity waits until cancelled; NaN or <= 0 is at once).
 */
import { setTimeout as sleepOnce } from 'node:timers/promises';

/** The longest single setTimeout Node honours. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export interface Scheduled {
  cancel(): void;
}

/**
 * Calls `fn` once, `ms` from now. `chunkMs` is the longest single timeout used (tests shorten it to
 * see the chaining work).
 */
export function schedule(fn: () => void, ms: number, chunkMs = MAX_TIMEOUT_MS): Scheduled {
  const due = performance.now() + (ms > 0 ? ms : 0);
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const left = due - performance.now();
    timer = setTimeout(
      () => (due - performance.now() <= 0 ? fn() : arm()),
      Math.min(Math.max(0, Math.ceil(left)), chunkMs),
    );
  };
  arm();
  return { cancel: () => clearTimeout(timer) };
}

/** Resolves `ms` from now, or at once when `signal` aborts (never rejects). */
export async function sleep(ms: number, signal: AbortSignal, chunkMs = MAX_TIMEOUT_MS): Promise<void> {
  if (!(ms > 0)) return;
  const due = performance.now() + ms;
  for (let left = ms; left > 0 && !signal.aborted; left = due - performance.now()) {
    try {
      await sleepOnce(Math.min(Math.ceil(left), chunkMs), undefined, { signal });
    } catch {
      return; // aborted
    }
  }
}
