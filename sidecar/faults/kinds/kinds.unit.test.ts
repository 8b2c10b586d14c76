/**
 * Each fault kind's arithmetic, without a mount: the calls are made up, the clock and the random
 * source are given (so nothing waits and every choice is known). test/chaosfs/faults.test.ts checks
 * the same kinds as root through a real ChaosFS mount.
 */
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { parseRules, type Action, type RuleInput, type RuleOf } from '../../api/fault-spec';
import type { FaultContext, FsCall } from '../fault';
import { methodsOf, type Operation } from '../methods';
import { seededRandom, type Random } from '../random';
import type { Clock } from '../wait';
import { bandwidth } from './bandwidth';
import { diskFull } from './disk-full';
import { fault } from './errno';
import { latency } from './latency';
import { mistake } from './mistake';

const { ENOSPC, EIO } = os.constants.errno;

const rule = <A extends Action>(input: RuleInput & { action: A }) => parseRules([input])[0] as RuleOf<A>;
const call = (op: Operation, fields: Partial<FsCall> = {}): FsCall => ({
  op,
  methods: methodsOf(op),
  path: 'f',
  ...fields,
});
const context = (random: Random = seededRandom(1)): FaultContext => ({
  random,
  signal: new AbortController().signal,
});
/** Random numbers from a list, in turn. */
const sequence = (...values: number[]): Random => {
  let i = 0;
  return () => values[i++ % values.length];
};

/** A clock that only moves when told, and records the waits asked of it (which end at once). */
class ManualClock implements Clock {
  at = 1000;
  readonly waits: number[] = [];
  now(): number {
    return this.at;
  }
  async wait(ms: number): Promise<void> {
    this.waits.push(ms);
  }
}

describe('fault kinds', () => {
  describe('bandwidth', () => {
    it('waits each call its bytes at the rate, concurrent callers sharing one cap', async () => {
      const clock = new ManualClock();
      const f = bandwidth(rule({ action: 'bandwidth', rate: 1000 }), clock);
      // Three calls at the same moment: the second starts when the first's bytes are through.
      await Promise.all([500, 500, 1000].map((length) => f.before!(call('read', { length }), context())));
      assert.deepEqual(clock.waits, [500, 1000, 2000]);
    });

    it('does not bank idle time, and lets a call of no bytes through at once', async () => {
      const clock = new ManualClock();
      const f = bandwidth(rule({ action: 'bandwidth', rate: 1000 }), clock);
      await f.before!(call('write', { length: 100 }), context());
      clock.at += 5000; // idle long past the cursor
      await f.before!(call('write', { length: 100 }), context());
      await f.before!(call('write', { length: 0 }), context());
      assert.deepEqual(clock.waits, [100, 100]);
    });
  });

  describe('latency', () => {
    it('waits delay ± jitter, spread by the random source', async () => {
      const clock = new ManualClock();
      const f = latency(rule({ action: 'latency', delay: '100ms', jitter: '10ms' }), clock);
      for (const r of [0, 0.5, 0.75])
        await f.before!(
          call('read'),
          context(() => r),
        );
      assert.deepEqual(clock.waits, [90, 100, 105]);
    });
  });

  describe('fault', () => {
    it('picks an errno by weight', () => {
      const f = fault(
        rule({
          action: 'fault',
          faults: [
            { errno: 'EIO', weight: 1 },
            { errno: 'ENOSPC', weight: 3 },
          ],
        }),
      );
      // random() * total (4) falls in [0, 1) for EIO and [1, 4) for ENOSPC.
      const picks = [0, 0.2499, 0.25, 0.9999].map((r) =>
        f.before!(
          call('read'),
          context(() => r),
        ),
      );
      assert.deepEqual(picks, [EIO, EIO, ENOSPC, ENOSPC]);
    });
  });

  describe('diskFull', () => {
    const full = () => diskFull(rule({ action: 'diskFull', limit: 100 }));
    const write = (offset: number, length: number, size: number) =>
      call('write', { offset, length, currentSize: async () => size });

    it('lets writes grow the volume up to the limit, then refuses growth with ENOSPC', async () => {
      const f = full();
      assert.equal(await f.before!(write(0, 60, 0), context()), undefined);
      f.grew!(60);
      assert.equal(await f.before!(write(50, 60, 60), context()), ENOSPC, '50 more bytes would pass 100');
      assert.equal(await f.before!(write(50, 50, 60), context()), undefined, '40 more bytes still fit');
      f.grew!(40);
      assert.equal(await f.before!(write(99, 2, 100), context()), ENOSPC, 'one byte past the end is growth');
    });

    it('still lets a full volume overwrite, shrink and unlink, but not create', async () => {
      const f = full();
      f.grew!(100);
      assert.equal(await f.before!(write(0, 100, 100), context()), undefined, 'an overwrite does not grow');
      assert.equal(
        await f.before!(call('setattr', { size: 10, currentSize: async () => 100 }), context()),
        undefined,
      );
      assert.equal(await f.before!(call('create'), context()), ENOSPC);
      assert.equal(await f.before!(call('mkdir'), context()), ENOSPC);
      assert.equal(await f.before!(call('unlink'), context()), undefined);
    });

    it('shows what is left of the limit as the free space, never more than the real one', () => {
      const f = full();
      f.grew!(30);
      assert.deepEqual(f.space!({ bsize: 10, bfree: 1000, bavail: 900 }), { bsize: 10, bfree: 7, bavail: 7 });
      assert.deepEqual(f.space!({ bsize: 10, bfree: 5, bavail: 3 }), { bsize: 10, bfree: 5, bavail: 3 });
      f.grew!(500);
      assert.deepEqual(f.space!({ bsize: 10, bfree: 1000, bavail: 900 }), { bsize: 10, bfree: 0, bavail: 0 });
    });
  });

  describe('mistake', () => {
    /** The indexes where `after` differs from `before`, as runs [start, length]. */
    function runs(before: Buffer, after: Buffer): [number, number][] {
      const found: [number, number][] = [];
      for (let i = 0; i < before.length; i++) {
        if (before[i] === after[i]) continue;
        const last = found.at(-1);
        if (last && last[0] + last[1] === i) last[1]++;
        else found.push([i, 1]);
      }
      return found;
    }

    it('changes at most maxOccurrences runs of at most maxLength bytes, and always changes something (a random fill never writes a byte back as it was)', () => {
      const f = mistake(
        rule({ action: 'mistake', mistake: { filling: 'random', maxOccurrences: 3, maxLength: 4 } }),
      );
      const random = seededRandom(42);
      let changedSome = 0;
      for (let n = 0; n < 200; n++) {
        const before = Buffer.alloc(64, n);
        const data = Buffer.from(before);
        f.read!(call('read'), data, context(random));
        const changed = runs(before, data);
        // Overlapping or touching runs merge: the bound holds on the total.
        const bytes = changed.reduce((sum, [, len]) => sum + len, 0);
        assert.ok(changed.length >= 1, 'a mistake always changes something');
        assert.ok(bytes <= 3 * 4, `${bytes} bytes changed, at most 12`);
        changedSome += bytes;
      }
      assert.ok(changedSome > 200, 'the runs vary in length');
    });

    const zeros = (maxOccurrences: number, maxLength: number) =>
      mistake(rule({ action: 'mistake', mistake: { filling: 'zero', maxOccurrences, maxLength } }));

    it('fills with zeros where it picks, exactly as the random source says, and leaves an empty buffer alone', () => {
      const f = zeros(2, 4);
      const data = Buffer.from('abcdefghij');
      // One occurrence (0.4 * 2 < 1), of length 1 + floor(0.5 * 4) = 3, starting at floor(0.3 * 8) = 2.
      f.write!(call('write'), data, context(sequence(0.4, 0.5, 0.3)));
      assert.equal(data.toString('latin1'), 'ab\0\0\0fghij');
      const empty = Buffer.alloc(0);
      f.read!(call('read'), empty, context());
      assert.equal(empty.length, 0);
    });

    it('never picks a run past the end of a short buffer', () => {
      const f = zeros(1, 100);
      const data = Buffer.from('xyz');
      f.read!(call('read'), data, context(sequence(0.99, 0.99, 0.99)));
      assert.equal(data.toString('latin1'), '\0\0\0');
    });
  });
});
