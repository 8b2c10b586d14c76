/** Bad rule input is refused with a message naming the field; good input is normalised. */
import assert from 'node:assert/strict';
import { parseDurationMs, parseRules } from '../../sidecar/api/fault-spec';

describe('fault spec', () => {
  const refused = (rules: unknown, field: RegExp) => assert.throws(() => parseRules(rules), field);

  it('normalises durations, errnos and sizes', () => {
    const [lat, err, bw] = parseRules([
      { action: 'latency', delay: '1.5s', jitter: '10ms' },
      { action: 'fault', errno: 'EIO' },
      { action: 'bandwidth', rate: '1MiB' },
    ]);
    assert.deepEqual([lat.action === 'latency' && lat.delay, err.action === 'fault' && err.errno], [1500, 5]);
    assert.equal(bw.action === 'bandwidth' && bw.rate, 1024 * 1024);
    assert.equal(parseDurationMs('1m30s'), 90_000);
    assert.equal(parseDurationMs('10'), undefined);
  });

  it('refuses bad input, naming the field', () => {
    refused([{ action: 'explode' }], /rules\[0\]\.action: unknown action "explode"/);
    refused([{ action: 'fault', errno: 'EWHAT' }], /rules\[0\]\.errno: unknown errno "EWHAT"/);
    refused([{ action: 'latency', delay: '-5ms' }], /rules\[0\]\.delay: "-5ms" is not a duration/);
    refused([{ action: 'latency', delay: '5ms', percent: 130 }], /rules\[0\]\.percent: .*100/);
    refused([{ action: 'fault', errno: 5, path: 'a/[b' }], /rules\[0\]\.path: "a\/\[b" is not a valid glob/);
    refused([{ action: 'fault', errno: 5, methods: ['reed'] }], /rules\[0\]\.methods\[0\]/);
    refused([{ action: 'fault', errno: 5, colour: 'red' }], /rules\[0\]: unknown field\(s\): colour/);
    refused([{ action: 'fault' }], /rules\[0\]\.errno: give exactly one of errno or faults/);
    refused([{ action: 'attrOverride', attr: {} }], /rules\[0\]\.attr: give at least one attribute/);
    refused({ action: 'fault' }, /rules: must be a JSON array/);
    refused(
      [
        { id: 'x', action: 'fault', errno: 5 },
        { id: 'x', action: 'fault', errno: 5 },
      ],
      /id "x" is used twice/,
    );
  });
});
