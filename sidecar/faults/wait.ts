/** A wait that a cleared rule can cut short: it resolves (never rejects) on abort. */
import { sleep } from '../timers';

export async function wait(ms: number, signal: AbortSignal): Promise<void> {
  // Chained timeouts: a delay longer than 24.8 days must not become 1 ms (timers.ts).
  await sleep(ms, signal);
}

/** Time as the fault kinds that wait see it: given to them, so a test checks their arithmetic without waiting. */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  wait(ms: number, signal: AbortSignal): Promise<void>;
}

export const systemClock: Clock = { now: () => performance.now(), wait };
