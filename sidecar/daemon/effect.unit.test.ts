/** The proof-of-effect hint: when a rule is called idle, and what it says to check. */
import assert from 'node:assert/strict';
import { parseRules } from '../api/fault-spec';
import { busiestOps, DEFAULT_HINT_AFTER_MS, hintAfterMs, ruleHint, type HintInput } from './effect';

const rule = (raw: Record<string, unknown>) => parseRules([raw])[0];

const base = (over: Partial<HintInput> = {}): HintInput => ({
  rule: rule({ action: 'fault', errno: 'EIO', path: 'nomatch/**', methods: ['write', 'fsync'] }),
  matched: 0,
  injected: 0,
  setAt: 0,
  now: 30_000,
  volumePath: '/data',
  calls: { read: 40, open: 12, getattr: 3, write: 0 },
  afterMs: 30_000,
  ...over,
});

describe('proof of effect: the idle-rule hint', () => {
  it('says nothing while the rule is younger than the threshold', () => {
    assert.equal(ruleHint(base({ now: 29_999 })), undefined);
  });

  it('names the glob, the volume, the methods and what the app did call, busiest first', () => {
    const hint = ruleHint(base())!;
    assert.match(hint, /matched no call in its first 30s/);
    assert.match(hint, /path glob "nomatch\/\*\*" \(relative to the volume \/data\)/);
    assert.match(hint, /methods \(write, fsync\)/);
    assert.match(hint, /the app called read ×40, open ×12, getattr ×3\./);
    assert.doesNotMatch(hint, /write ×0/, 'ops never called are not named');
    assert.match(hint, /page-fault granularity/);
  });

  it('a rule on every path and method says so, and an app that made no call is asked about its volume', () => {
    const hint = ruleHint(base({ rule: rule({ action: 'latency', delay: '1ms' }), calls: {} }))!;
    assert.match(hint, /path glob every path/);
    assert.match(hint, /methods \(all\)/);
    assert.match(hint, /made no call on \/data at all: is it the volume the app uses\?/);
  });

  it('a natively drawn percent, which counts only the calls that won the draw, is named as a cause too', () => {
    const r = rule({ action: 'fault', errno: 'EIO', percent: 1 });
    assert.match(ruleHint(base({ rule: r }))!, /Its percent \(1\) is drawn before a call counts as matched/);
    const seeded = rule({ action: 'fault', errno: 'EIO', percent: 1, seed: 7 });
    assert.doesNotMatch(
      ruleHint(base({ rule: seeded }))!,
      /Its percent/,
      'a seeded percent is drawn after matching',
    );
    assert.doesNotMatch(ruleHint(base())!, /Its percent/);
  });

  it('a rule that matched calls but whose percent fired on none says so', () => {
    const r = rule({ action: 'fault', errno: 'EIO', percent: 0.1, times: 3 });
    const hint = ruleHint(base({ rule: r, matched: 57, injected: 0 }))!;
    assert.match(hint, /matched 57 call\(s\) but fired on none: its percent 0.1 and times 3 let none fire/);
  });

  it('a rule that fired has no hint, however old', () => {
    assert.equal(ruleHint(base({ matched: 5, injected: 1, now: 3_600_000 })), undefined);
  });

  it('busiestOps breaks ties by name and keeps the top ones', () => {
    assert.equal(busiestOps({ b: 2, a: 2, c: 9, d: 1 }, 3), 'c ×9, a ×2, b ×2');
  });

  it('the threshold comes from IOCHAOS_HINT_AFTER, and a bad one is refused', () => {
    assert.equal(hintAfterMs({}), DEFAULT_HINT_AFTER_MS);
    assert.equal(hintAfterMs({ IOCHAOS_HINT_AFTER: '1500ms' }), 1500);
    assert.throws(
      () => hintAfterMs({ IOCHAOS_HINT_AFTER: 'soon' }),
      /IOCHAOS_HINT_AFTER: "soon" is not a duration/,
    );
  });
});
