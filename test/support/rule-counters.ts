/**
 * A rule's counters, read over a ChaosFS control socket: a test waits until a call has really reached
 * the rule (is in flight in its delay, or was faulted) instead of sleeping and hoping it has.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RuleStatus } from '../../sidecar/faults/rule-set';
import { request } from '../../sidecar/control/client';

export async function ruleCounters(socket: string): Promise<RuleStatus[]> {
  const reply = await request<{ rules: RuleStatus[] }>(socket, { op: 'rules.list' });
  if (!reply.ok) throw new Error(`rules.list on ${socket}: ${reply.error.message}`);
  return reply.result.rules;
}

/** Resolves once the rules on `socket` have fired `count` times in all; fails after `ms`. */
export async function untilInjected(socket: string, count = 1, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  let seen = 0;
  while (Date.now() < end) {
    seen = (await ruleCounters(socket)).reduce((sum, r) => sum + r.injected, 0);
    if (seen >= count) return;
    await sleep(20);
  }
  throw new Error(`the rules on ${socket} fired ${seen} time(s) within ${ms} ms, not ${count}`);
}
