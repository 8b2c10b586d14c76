/**
 * Issue 10, item 3 (last part): the post-recovery check knows the ChaosFS mount by its identity (mount
 * id, file-system device), not by where its path says it is. The daemon is SIGKILLed after the mount
 * went on but before its id was journaled; meanwhile the volume's parent directory is renamed (an app
 * that owns it can), so the mount now sits at another path. The volume is a plain directory, so the
 * mount table at its path is the same as before: only the mount's identity gives it away. The restarted daemon must not call that
 * recovered: it names the mount it could not take off, and a later recover, once the path is back,
 * takes it off.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { requireRootAndFuse } from '../support/root';
import { testDaemon, type TestDaemon } from '../support/daemon';
import { startTarget, type Target } from '../support/target';
import { mounts, noChaosFsMountsIn } from '../support/mounts';
import { until } from '../support/until';

describe('security: recovery is verified by mount identity, not by path (issue 10, item 3)', () => {
  let d: TestDaemon;
  let t: Target | undefined;
  let moved: { from: string; to: string } | undefined;

  beforeEach(() => requireRootAndFuse());
  afterEach(async () => {
    if (moved) fs.renameSync(moved.to, moved.from);
    moved = undefined;
    await t?.kill();
    t = undefined;
    await d?.cleanup();
  });

  it('a ChaosFS mount whose path was renamed away before its id was journaled is not called recovered', async () => {
    t = await startTarget();
    const inApp = (p: string) => `/proc/${t!.pid}/root${p}`;
    const volume = `${t.volume}/p/vol`;
    fs.mkdirSync(inApp(volume), { recursive: true });
    const before = t.mountTable();
    d = testDaemon();
    await d.start({ IOCHAOS_FAILPOINT: 'inject:mounted' });
    d.cliInBackground('delay', `pid/${t.pid}`, '--path', volume, '--delay', '1ms');
    await until('the daemon has mounted ChaosFS', () => d.log().includes('"name":"inject:mounted"'));
    await d.kill();
    assert.equal(noChaosFsMountsIn(t.pid), false, 'ChaosFS is on the volume');

    // The volume's parent is renamed: the mount point itself cannot be, what is above it can.
    moved = { from: inApp(`${t.volume}/p`), to: inApp(`${t.volume}/q`) };
    fs.renameSync(moved.from, moved.to);
    await d.start();
    await until('the restarted daemon went through its leftovers', () =>
      d.log().includes('"event":"recovered-leftovers"'),
    );
    const chaos = mounts(t.pid).filter((m) => m.fstype === 'fuse.chaosfs');
    if (chaos.length > 0) {
      // Left: the daemon must say so, naming the mount at its new place.
      const status = JSON.parse(d.cli('status', '-o', 'json').stdout)[0].result.injections;
      assert.equal(status.length, 1, `the injection is still open: ${JSON.stringify(status)}`);
      assert.equal(status[0].state, 'recover-incomplete');
      assert.match(status[0].left.join('\n'), new RegExp(`mount ${chaos[0].id} .* at ${t.volume}/q/vol`));
    }

    // With the path back, a recover takes the mount off and closes the injection.
    fs.renameSync(moved.to, moved.from);
    moved = undefined;
    if (chaos.length > 0) assert.equal(d.cli('recover', `pid/${t.pid}`).status, 0, d.log());
    assert.ok(noChaosFsMountsIn(t.pid), 'no ChaosFS mount is left in the target');
    assert.deepEqual(t.mountTable(), before);
    assert.equal((await t.ask({ op: 'append', data: 'after' })).ok, true);
    assert.equal(JSON.parse(d.cli('status', '-o', 'json').stdout)[0].result.injections.length, 0);
  });
});
