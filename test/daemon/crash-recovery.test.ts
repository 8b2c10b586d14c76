/**
 * Recovery is the product: a daemon SIGKILLed in the middle of an injection or of a recovery, a worker
 * that dies, a daemon stopped with SIGTERM — each ends with the app on its original files, its data
 * intact, and no ChaosFS mount left in its table or the daemon's.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { requireRootAndFuse } from '../support/root';
import { journaledWorkerPids, testDaemon, type TestDaemon } from '../support/daemon';
import { startTarget, type Target } from '../support/target';
import { noChaosFsMountsIn } from '../support/mounts';
import { until } from '../support/until';
import { fdMountId } from '../support/fdinfo';

describe('recovery after crashes', () => {
  let d: TestDaemon;
  let t: Target | undefined;

  beforeEach(async () => {
    requireRootAndFuse();
    d = testDaemon();
  });
  afterEach(async () => {
    await t?.kill();
    t = undefined;
    await d.cleanup();
  });

  /** Injects with the daemon stopping at `point`, SIGKILLs it there, restarts it: all is recovered. */
  async function killAt(point: string, inject: boolean) {
    t = await startTarget();
    const before = t.mountTable();
    const heldMount = fdMountId(t.pid, '/held.dat');
    assert.equal((await t.ask({ op: 'append', data: 'before' })).ok, true);
    await d.start({ IOCHAOS_FAILPOINT: point });
    const args = ['delay', `pid/${t.pid}`, '--path', t.volume, '--delay', '50ms'];
    if (inject) {
      // The CLI waits for a reply that never comes: run it in the background.
      d.cliInBackground(...args);
    } else {
      // Inject fully on a daemon without the failpoint, then recover on one that has it.
      await d.stop();
      await d.start();
      assert.equal(d.cli(...args).status, 0);
      await d.stop(); // SIGTERM recovers: inject again so there is something to recover mid-way
      await d.start({ IOCHAOS_FAILPOINT: point });
      assert.equal(d.cli(...args).status, 0);
      d.cliInBackground('recover', `pid/${t.pid}`);
    }
    await until(`the daemon reaches ${point}`, () => d.log().includes(`"name":"${point}"`));
    await d.kill();
    // The worker survives the daemon (the app's volume must not go down with it). Recovery detaches
    // the mount before it swaps back, so at recover:swapped-back it is already gone from the table.
    const detached = point === 'recover:swapped-back';
    assert.equal(
      noChaosFsMountsIn(t.pid),
      detached,
      `ChaosFS mounted in the target after the crash: ${!detached}`,
    );
    await d.start();
    await until('the restarted daemon recovered everything', () =>
      d.log().includes('"event":"recovered-leftovers"'),
    );
    assert.deepEqual(t.mountTable(), before, 'the target mount table is as before');
    assert.ok(
      noChaosFsMountsIn('self', d.dir),
      `no staging mount left in the daemon namespace; log:\n${d.log()}`,
    );
    assert.equal((await t.ask({ op: 'append', data: 'after' })).ok, true);
    assert.equal(fdMountId(t.pid, '/held.dat'), heldMount, 'the held fd is back on the original volume');
    assert.equal((await t.ask({ op: 'readHeld' })).value, 'held data');
    assert.equal(t.read(`${t.volume}/log.txt`), 'before\nafter\n');
  }

  it('SIGKILL after the mount is attached, before the fds are swapped', () =>
    killAt('inject:attached', true));
  it('SIGKILL after the fds are swapped, before the rules are on', () => killAt('inject:swapped', true));
  it('SIGKILL in the middle of a recovery (rules off, fds not yet back)', () =>
    killAt('recover:rules-off', false));
  it('SIGKILL in the middle of a recovery (mount detached, fds back)', () =>
    killAt('recover:swapped-back', false));

  it('recovers an injection at once when its worker dies', async () => {
    t = await startTarget();
    const before = t.mountTable();
    await d.start();
    assert.equal(
      d.cli('fault', `pid/${t.pid}`, '--path', t.volume, '--errno', 'EIO', '--methods', 'write').status,
      0,
    );
    const status = JSON.parse(d.cli('status', '-o', 'json').stdout)[0].result.injections[0];
    const workerLog = fs.readdirSync(`${d.dir}/state`).find((f) => f.endsWith('.worker.log'))!;
    assert.ok(workerLog.startsWith(status.id));
    const [worker] = journaledWorkerPids(d);
    process.kill(worker!, 'SIGKILL');
    await until('the daemon recovered and verified it', () => d.log().includes('"event":"recovered"'));
    assert.deepEqual(t.mountTable(), before);
    assert.equal((await t.ask({ op: 'append', data: 'fine' })).ok, true);
    assert.equal((await t.ask({ op: 'readHeld' })).value, 'held data');
    assert.ok(noChaosFsMountsIn('self', d.dir));
  });

  it('recovers everything on SIGTERM (pod deletion) and exits 0', async () => {
    t = await startTarget();
    const before = t.mountTable();
    await d.start();
    assert.equal(
      d.cli('delay', `pid/${t.pid}`, '--path', t.volume, '--delay', '20s', '--methods', 'read').status,
      0,
    );
    // A read stuck in a 20 s delay while the daemon is told to stop.
    const stuck = t.ask({ op: 'readHeld' });
    await sleep(200);
    assert.equal(await d.stop(), 0);
    assert.deepEqual(t.mountTable(), before);
    assert.equal((await stuck).value, 'held data', 'the delayed read was answered, with the right data');
    assert.ok(noChaosFsMountsIn('self', d.dir));
  });
});
