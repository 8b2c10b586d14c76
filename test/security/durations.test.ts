/**
 * Issue 10, item 5 (runtime side): durations of 24.8 days or more stay that long. Node's setTimeout
 * turns anything above 2^31-1 ms into 1 ms, so `delay "600h"` delayed nothing and `duration "600h"`
 * recovered at once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as pause } from 'node:timers/promises';
import { MAX_TIMEOUT_MS, schedule, sleep } from '../../sidecar/timers';
import { requireRootAndFuse } from '../support/root';
import { startChaosFs, type ChaosFsProcess } from '../support/chaosfs-process';
import { testDaemon, type TestDaemon } from '../support/daemon';
import { startTarget, type Target } from '../support/target';

describe('security: long durations (issue 10, item 5)', () => {
  it('schedule() chains timeouts: a duration of several chunks fires once, after all of them', async () => {
    let fired = 0;
    const start = performance.now();
    let at = 0;
    schedule(
      () => {
        fired++;
        at = performance.now() - start;
      },
      250,
      40,
    );
    await pause(600);
    assert.equal(fired, 1);
    assert.ok(at >= 250, `fired after ${at} ms, before the 250 ms asked`);
  });

  it('schedule() can be cancelled between chunks, and sleep() ends at once on abort', async () => {
    let fired = false;
    const s = schedule(() => (fired = true), 200, 30);
    await pause(100);
    s.cancel();
    await pause(250);
    assert.equal(fired, false);
    const abort = new AbortController();
    const slept = sleep(10 * MAX_TIMEOUT_MS, abort.signal);
    abort.abort();
    await slept; // resolves, does not reject, does not wait 248 days
  });

  describe('on a real mount and daemon', () => {
    let c: ChaosFsProcess | undefined;
    let d: TestDaemon | undefined;
    let t: Target | undefined;
    before(() => requireRootAndFuse());
    afterEach(async () => {
      await c?.cleanup();
      await t?.kill();
      await d?.cleanup();
      [c, d, t] = [undefined, undefined, undefined];
    });

    // The schema bounds a delay at 1h and a duration at 576h (sidecar/api/fault-spec.ts); these run the
    // longest each allows through the real mount and daemon, the chaining itself is tested above.
    it('a delay of 1h (the longest the schema allows) holds the read until the rule is cleared', async () => {
      c = await startChaosFs();
      fs.writeFileSync(path.join(c.src, 'slow.txt'), 'eventually');
      const set = await c.setRules([{ action: 'latency', delay: '1h', methods: ['read'] }], true);
      assert.ok(set.ok, JSON.stringify(set));
      const cat = spawn('cat', [path.join(c.mnt, 'slow.txt')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      cat.stdout.on('data', (b) => (out += b));
      const done = new Promise<number | null>((resolve) => cat.on('exit', resolve));
      const early = await Promise.race([done.then(() => 'exited'), pause(2000).then(() => 'waiting')]);
      assert.equal(early, 'waiting', `the 1h delay let the read through at once (got "${out}")`);
      await c.clearRules();
      assert.equal(await done, 0);
      assert.equal(out, 'eventually');
    });

    it('an injection with --duration 576h (the longest allowed) is still on after the first seconds', async () => {
      d = testDaemon();
      await d.start();
      t = await startTarget();
      const r = d.cli('fault', `pid/${t.pid}`, '--path', t.volume, '--errno', 'EIO', '--duration', '576h');
      assert.equal(r.status, 0, r.stderr);
      await pause(2000);
      assert.equal((await t.ask({ op: 'read', file: 'held.dat' })).code, 'EIO', 'recovered too early');
      const status = JSON.parse(d.cli('status', '-o', 'json').stdout)[0].result.injections;
      assert.equal(status.length, 1);
      const rec = d.cli('recover', `pid/${t.pid}`);
      assert.equal(rec.status, 0, rec.stderr);
    });
  });
});
