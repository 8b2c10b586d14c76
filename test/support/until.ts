/** Waiting on an end state instead of sleeping a fixed time. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

/** Resolves once `check()` holds; fails naming `what` after `ms`. */
export async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 100) {
    if (check()) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting until ${what}`);
}
