/** Bad rule input is refused with a message naming the field; good input is normalised. */
import assert from 'node:assert/strict';
import { METHODS, NEVER_REACHED_METHODS, parseDurationMs, parseRules } from '../../sidecar/api/fault-spec';
import { parseControlRequest, VolumePathSchema } from '../../sidecar/api/control';
import { parseRequest } from '../../sidecar/control/server';
import { methodsOf, OPERATIONS } from '../../sidecar/faults/methods';

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

  it('bounds every duration: zero, too long and huge are refused with the reason, never wrapped', () => {
    refused([{ action: 'latency', delay: '2h' }], /rules\[0\]\.delay: "2h" is too long: at most 1h/);
    refused(
      [{ action: 'fault', errno: 5, duration: '99999999999999999999h' }],
      /rules\[0\]\.duration: "99999999999999999999h" is too long: at most 576h/,
    );
    refused([{ action: 'fault', errno: 5, duration: '600h' }], /at most 576h/);
    refused([{ action: 'fault', errno: 5, duration: '0s' }], /rules\[0\]\.duration: "0s" is zero/);
    const [lat] = parseRules([{ action: 'latency', delay: '0ms', duration: '576h' }]);
    assert.equal(lat.action === 'latency' && lat.delay, 0, 'a zero delay is allowed (jitter alone)');
    assert.throws(
      () =>
        parseControlRequest({
          op: 'inject',
          target: { pid: 1 },
          volumePath: '/d',
          rules: [],
          duration: '99999999999999999999h',
        }),
      (err: Error & { code?: string; field?: string }) =>
        err.name === 'ControlError' && err.code === 'BadRequest' && err.field === 'duration',
    );
  });

  it('perm takes octal text; errno numbers are checked; methods that never reach ChaosFS are refused', () => {
    const [attr] = parseRules([{ action: 'attrOverride', attr: { perm: '0444' } }]);
    assert.equal(attr.action === 'attrOverride' && attr.attr.perm, 0o444);
    refused([{ action: 'attrOverride', attr: { perm: '999' } }], /attr\.perm: "999" is not permission bits/);
    refused([{ action: 'fault', errno: 9999 }], /errno: 9999 is not an errno of this system/);
    refused([{ action: 'fault', errno: 5, methods: ['forget', 'getlk'] }], /never reach ChaosFS/);
    assert.equal(parseRules([{ action: 'fault', errno: 5, methods: ['forget', 'read'] }]).length, 1);
    // The list the schema refuses is exactly the methods no ChaosFS operation answers to.
    const reached = new Set(OPERATIONS.flatMap((op) => methodsOf(op)));
    assert.deepEqual(
      METHODS.filter((m) => !reached.has(m)),
      [...NEVER_REACHED_METHODS],
    );
  });

  it('volume paths: normalised when safe, refused otherwise', () => {
    assert.equal(VolumePathSchema.parse('/data/'), '/data');
    assert.equal(VolumePathSchema.parse('//var//lib/db//'), '/var/lib/db');
    for (const [bad, why] of [
      ['data', /absolute/],
      ['/', /root directory/],
      ['///', /root directory/],
      ['/a/./b', /"\."/],
      ['/a/../b', /"\.\."/],
      ['/a\0b', /NUL/],
    ] as const) {
      const r = VolumePathSchema.safeParse(bad);
      assert.equal(r.success, false, bad);
      assert.match(r.error!.issues[0].message, why);
    }
  });

  it('one issue formatter: the server names nested fields as parseRules does', () => {
    assert.throws(
      () =>
        parseRequest(
          JSON.stringify({ op: 'rules.set', rules: [{ action: 'latency', delay: '5ms', percent: 130 }] }),
        ),
      /^ControlError: rules\[0\]\.percent: /,
    );
    assert.throws(
      () => parseRequest(JSON.stringify({ op: 'recover', target: { pid: -1 } })),
      /^ControlError: target/,
    );
  });
});
