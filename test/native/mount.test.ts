import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { attachMount, detachMount, mountStatus } from '../../sidecar/kernel/mount';
import { NativeHelperError } from '../../sidecar/kernel/native-helper';
import { requireRootAndFuse } from '../support/root';
import { bindfs, mountTable, ourMountsUnder, startTarget, Target, tempDir, unmountAllUnder } from './support';

async function refused(p: Promise<unknown>, re: RegExp): Promise<void> {
  const e = await p.then(
    () => assert.fail('expected a refusal'),
    (x: unknown) => x,
  );
  assert.ok(e instanceof NativeHelperError, String(e));
  assert.equal(e.refused, true, e.message);
  assert.match(e.helperMessage, re);
}

describe('native: move & mount (iochaos-mount)', () => {
  let dir: string;
  let target: Target | undefined;
  const vol = () => path.join(dir, 'vol'); // a tmpfs mount point in the target
  const plain = () => path.join(dir, 'plain'); // a plain directory on the root file system
  const stage = () => path.join(dir, 'stage'); // the FUSE mount, in our namespace

  before(async () => {
    requireRootAndFuse();
    dir = tempDir('mount');
    fs.mkdirSync(vol());
    fs.mkdirSync(plain());
    fs.writeFileSync(path.join(plain(), 'original'), 'plain original');
    fs.mkdirSync(path.join(dir, 'fuse-src'));
    fs.writeFileSync(path.join(dir, 'fuse-src', 'through-fuse'), 'fuse');
    target = await startTarget(`mount -t tmpfs mount-test ${vol()} && echo tmpfs > ${vol()}/original`, [
      'sh',
      '-c',
      'echo \'{"ready":true}\'; exec cat',
    ]);
    bindfs(path.join(dir, 'fuse-src'), stage());
  });

  after(() => {
    target?.kill();
    unmountAllUnder(dir);
    assert.deepEqual(ourMountsUnder(dir), [], 'a mount was left behind');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const kind of ['mount point', 'plain directory'] as const) {
    it(`stacks a FUSE mount on a ${kind} and the reverse restores mountinfo`, async () => {
      const pid = target!.pid;
      const p = kind === 'mount point' ? vol() : plain();
      const before = mountTable(pid);
      const underBefore = await mountStatus({ pid, path: p });
      assert.equal(underBefore.injected, false);
      assert.equal(underBefore.mountPoint, kind === 'mount point');

      const a = await attachMount({ pid, path: p, source: stage() });
      assert.match(a.fstype, /^fuse/);
      assert.equal(a.pathWasMountPoint, kind === 'mount point');
      assert.equal(a.belowMntId, underBefore.mntId);
      // The target sees the FUSE file system at PATH; the original is only hidden, not moved.
      assert.equal(fs.readFileSync(`/proc/${pid}/root${p}/through-fuse`, 'utf8'), 'fuse');
      assert.equal(fs.existsSync(`/proc/${pid}/root${p}/original`), false);
      assert.equal(mountTable(pid).length, before.length + 1);

      await refused(attachMount({ pid, path: p, source: stage() }), /already injected/);
      await refused(detachMount({ pid, path: p, mntId: a.belowMntId }), /not ours|not a FUSE/);

      const d = await detachMount({ pid, path: p, mntId: a.mntId });
      assert.equal(d.detachedMntId, a.mntId);
      assert.equal(d.top?.mntId, underBefore.mntId);
      assert.deepEqual(mountTable(pid), before);
      assert.ok(fs.existsSync(`/proc/${pid}/root${p}/original`));
      // Doing it again is a no-op, so a recovery that is re-run is safe.
      assert.equal((await detachMount({ pid, path: p, mntId: a.mntId })).alreadyDetached, true);
      assert.deepEqual(mountTable(pid), before);
    });
  }

  it('refuses PATH missing, PATH /, a relative or non-canonical PATH, and a source that is not FUSE', async () => {
    const pid = target!.pid;
    await refused(attachMount({ pid, path: path.join(dir, 'missing'), source: stage() }), /does not exist/);
    await refused(attachMount({ pid, path: '/', source: stage() }), /PATH is \//);
    await refused(attachMount({ pid, path: 'relative/x', source: stage() }), /absolute/);
    await refused(attachMount({ pid, path: `${vol()}/../vol`, source: stage() }), /canonical/);
    await refused(attachMount({ pid, path: vol(), source: dir }), /not a FUSE mount/);
    fs.writeFileSync(path.join(dir, 'file'), '');
    await refused(attachMount({ pid, path: path.join(dir, 'file'), source: stage() }), /not a directory/);
  });

  it('refuses a pid that does not exist', async () => {
    await refused(mountStatus({ pid: 0x3ffffff0, path: vol() }), /no process/);
  });
});
