/** A wait that a cleared rule can cut short: it resolves (never rejects) on abort. */
import { setTimeout as sleep } from 'node:timers/promises';

export async function wait(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    // Aborted: the rule was cleared, so the call goes on without the rest of its delay.
  }
}
