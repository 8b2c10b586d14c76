/**
 * One way to name a field in an error, kubectl's (`rules[0].percent`), whichever check found it: the
 * request schema (zod's own issues) or the rule schema run on each rule; and the error's `field`
 * says the same.
 */
import assert from 'node:assert/strict';
import { ControlError, parseControlRequest } from './control';

function refusal(raw: Record<string, unknown>): { message: string; field?: string } {
  try {
    parseControlRequest({ version: 1, ...raw });
  } catch (err) {
    assert.ok(err instanceof ControlError);
    return { message: err.message, field: err.field };
  }
  throw new Error('the request was accepted');
}

describe('control request errors', () => {
  const inject = { op: 'inject', target: { pid: 1 }, volumePath: '/data' };

  it('name a rule field as rules[i].field, nested fields with dots', () => {
    assert.deepEqual(refusal({ ...inject, rules: [{ action: 'latency', delay: '1ms', percent: 200 }] }), {
      message: 'rules[0].percent: Too big: expected number to be <=100',
      field: 'rules[0].percent',
    });
    const second = refusal({
      ...inject,
      rules: [
        { action: 'latency', delay: '1ms' },
        { action: 'mistake', mistake: { filling: 'zero', maxOccurrences: 0, maxLength: 1 } },
      ],
    });
    assert.equal(second.field, 'rules[1].mistake.maxOccurrences');
    assert.match(second.message, /^rules\[1\]\.mistake\.maxOccurrences: /);
  });

  it('name a field of the request itself the same way', () => {
    const r = refusal({ op: 'rules.clear', ids: ['a', 5] });
    assert.equal(r.field, 'ids[1]');
    assert.match(r.message, /^ids\[1\]: /);
    assert.match(refusal({ ...inject, rules: [], volumePath: 'data' }).message, /^volumePath: /);
  });
});
