/** The worker's control requests: the rule limit holds per request and for rules added one at a time. */
import assert from 'node:assert/strict';
import { ControlError, parseControlRequest } from '../api/control';
import { MAX_RULES } from '../api/fault-spec';
import { RuleSet } from '../faults/rule-set';
import { workerHandler } from './control';

describe('worker control requests', () => {
  const worker = () => {
    const rules = new RuleSet();
    const handle = workerHandler({
      rules,
      backingRoot: '/proc/self/fd/0',
      settled: async () => {},
      refreshCounts: () => {},
    });
    return {
      rules,
      // Parsing refuses a list over the limit before the worker sees it: a rejection either way.
      set: async (n: number, replace = false, prefix = 'r') =>
        handle(
          parseControlRequest({
            op: 'rules.set',
            replace,
            rules: Array.from({ length: n }, (_, i) => ({
              id: `${prefix}${i}`,
              action: 'latency',
              delay: '1ms',
            })),
          }),
        ),
    };
  };

  it(`takes ${MAX_RULES} rules, and refuses one more in one request, naming the limit`, async () => {
    const w = worker();
    await w.set(MAX_RULES);
    assert.equal(w.rules.list().length, MAX_RULES);
    await assert.rejects(w.set(MAX_RULES + 1, true), (err: Error) =>
      /at most 256 rules on a volume \(this would make 257\)/.test(err.message),
    );
    assert.equal(w.rules.list().length, MAX_RULES, 'the refused request changed nothing');
  });

  it('refuses rules added one request at a time past the limit; a rule replacing one of the same id does not count twice', async () => {
    const w = worker();
    await w.set(200, false, 'a');
    await w.set(56, false, 'b');
    await w.set(56, false, 'b'); // the same ids again: replaced, still 256
    assert.equal(w.rules.list().length, MAX_RULES);
    await assert.rejects(
      w.set(1, false, 'c'),
      (err: unknown) =>
        err instanceof ControlError && err.code === 'BadRequest' && /this would make 257/.test(err.message),
    );
    await w.set(10, true, 'd'); // replace: only the new ones count
    assert.equal(w.rules.list().length, 10);
  });
});
