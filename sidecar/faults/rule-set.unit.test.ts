/**
 * The rule set: set, replace and clear while in use, and which rules fire on a call. Replacing must
 * be one change (no moment with no rules, or both), and a rule that goes away must cut its waits short.
 */
import assert from 'node:assert/strict';
import { parseRules, type RuleInput } from '../api/fault-spec';
import type { FsCall } from './fault';
import { methodsOf } from './methods';
import { RuleSet } from './rule-set';

const rules = (...input: RuleInput[]) => parseRules(input);
const read = (path = 'f'): FsCall => ({ op: 'read', methods: methodsOf('read'), path });
const ids = (set: RuleSet) => set.list().map((s) => s.id);

describe('rule set', () => {
  it('replace swaps every rule in one change, retiring the old ones', () => {
    const set = new RuleSet();
    const seen: string[][] = [];
    set.onChange((active) => seen.push(active.map((r) => r.id ?? r.action)));
    set.replace(
      rules({ action: 'latency', delay: '1s', id: 'a' }, { action: 'latency', delay: '1s', id: 'b' }),
    );
    const [a, b] = set.active;
    set.replace(rules({ action: 'fault', errno: 'EIO', id: 'c' }));
    assert.deepEqual(ids(set), ['c']);
    assert.deepEqual(seen, [['a', 'b'], ['c']], 'one notification per replace, never an empty set between');
    assert.ok(
      a.context.signal.aborted && b.context.signal.aborted,
      'the replaced rules cut their waits short',
    );
    assert.equal(set.active[0].context.signal.aborted, false);
  });

  it('upsert adds, replacing only a rule with the same id, and names rules without one', () => {
    const set = new RuleSet();
    assert.deepEqual(
      set.upsert(rules({ action: 'latency', delay: '1ms' }, { action: 'latency', delay: '1ms', id: 'x' })),
      ['rule-1', 'x'],
    );
    const oldX = set.active[1];
    assert.deepEqual(
      set.upsert(rules({ action: 'fault', errno: 'EIO', id: 'x' }, { action: 'latency', delay: '1ms' })),
      ['x', 'rule-2'],
    );
    assert.deepEqual(ids(set), ['rule-1', 'x', 'rule-2']);
    assert.equal(set.active[1].rule.action, 'fault', 'x is the new rule');
    assert.ok(oldX.context.signal.aborted);
  });

  it('clear takes off the rules named, or all; unknown ids are no error', () => {
    const set = new RuleSet();
    set.replace(
      rules({ action: 'latency', delay: '1ms', id: 'a' }, { action: 'latency', delay: '1ms', id: 'b' }),
    );
    assert.deepEqual(set.clear(['b', 'nope']), ['b']);
    assert.deepEqual(ids(set), ['a']);
    assert.deepEqual(set.clear(), ['a']);
    assert.ok(set.empty);
  });

  it('counts matched and injected calls: path and method match, then times and percent decide', () => {
    const set = new RuleSet();
    set.replace(
      rules(
        { action: 'fault', errno: 'EIO', id: 'twice', path: 'db/**', times: 2 },
        { action: 'fault', errno: 'EIO', id: 'never', percent: 0 },
        { action: 'fault', errno: 'EIO', id: 'writes', methods: ['write'] },
      ),
    );
    const fired = ['db/a', 'db/b', 'db/c', 'other'].map((p) => set.select(read(p)).map((r) => r.id));
    assert.deepEqual(fired, [['twice'], ['twice'], [], []]);
    assert.deepEqual(
      set.list().map((s) => [s.id, s.matched, s.injected]),
      [
        ['twice', 3, 2],
        ['never', 4, 0],
        ['writes', 0, 0],
      ],
    );
  });

  it('with a seed, percent picks the same calls every time', () => {
    const picks = () => {
      const set = new RuleSet();
      set.replace(rules({ action: 'fault', errno: 'EIO', percent: 30, seed: 7 }));
      return Array.from({ length: 100 }, () => set.select(read()).length);
    };
    const first = picks();
    assert.deepEqual(picks(), first);
    const fired = first.filter(Boolean).length;
    assert.ok(fired > 10 && fired < 60, `about 30 of 100 fired, not ${fired}`);
  });
});
