/**
 * Issue 10, item 3: detach takes off the ChaosFS mount it checked, never another one. An unprivileged
 * app that owns the volume's parent flips the path during detach (symlink swap, rename dance); a
 * mount stacked on ours or under it is someone else's. In every case the namespace's other mounts
 * stay, and detach either removes exactly ours or refuses saying why.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { attachMount, detachMount } from '../../sidecar/kernel/mount';
import { NativeHelperError } from '../../sidecar/kernel/native-helper';
import { requireRootAndFuse } from '../support/root';
import { APP_UID, startFlipper } from './flipper';
import {
  bindfs,
  inNamespace,
  ourMountsUnder,
  startTarget,
  Target,
  tempDir,
  unmountAllUnder,
} from '../native/support';

const ROUNDS = 40;

/**
 * Mount ids in pid's namespace at `/` and under `dir`: the mounts this test controls. The namespace is
 * a copy of the host's, and copies of other tests' FUSE mounts there may vanish when those end.
 */
function mountIds(pid: number, dir: string): number[] {
  return fs
    .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[4] === '/' || f[4].startsWith(`${dir}/`))
    .map((f) => Number(f[0]))
    .sort((a, b) => a - b);
}

/*
 * Runs in the target's namespace as uid 1000, in the parent P of a/ (the volume's directory) and b/
 * (holding another mount at b/data): a/ becomes a symlink to b, then b is renamed to a, and back,
 * until the stop file appears (checked only where the layout is the original one).
 */
const FLIPPER = `
chdir $ARGV[0] or die "chdir: $!";
$| = 1; print "flipping\\n";
until (-e $ARGV[1]) {
  rename("a", "a.x") or die; symlink("b", "a") or die; unlink("a") or die; rename("a.x", "a") or die;
  rename("a", "a.x") or die; rename("b", "a") or die; rename("a", "b") or die; rename("a.x", "a") or die;
}
`;

async function outcome(p: Promise<unknown>): Promise<NativeHelperError | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    assert.ok(e instanceof NativeHelperError, String(e));
    return e;
  }
}

describe('security: detach unmounts only the ChaosFS mount it checked (issue 10, item 3)', () => {
  let dir: string;
  let target: Target | undefined;
  const parent = () => path.join(dir, 'P'); // owned by the app
  const vol = () => path.join(parent(), 'a', 'data'); // where ChaosFS goes
  const decoy = () => path.join(parent(), 'b', 'data'); // another mount of the namespace
  const stage = () => path.join(dir, 'stage'); // the FUSE mount, in our namespace

  before(async () => {
    requireRootAndFuse();
    dir = tempDir('unmount-race');
    fs.chmodSync(dir, 0o755);
    for (const d of ['a/data', 'b/data']) fs.mkdirSync(path.join(parent(), d), { recursive: true });
    for (const d of ['', 'a', 'b', 'a/data', 'b/data'])
      fs.chownSync(path.join(parent(), d), APP_UID, APP_UID);
    fs.mkdirSync(path.join(dir, 'fuse-src', 'sub'), { recursive: true });
    target = await startTarget(`mount -t tmpfs decoy ${decoy()}`, [
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

  it(`an app flipping the path (symlink, rename dance) during detach, ${ROUNDS} rounds: ours or nothing goes`, async () => {
    const pid = target!.pid;
    const stop = path.join(dir, 'stop');
    const hostBefore = ourMountsUnder(dir);
    const counts = { detached: 0, refused: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      const before = mountIds(pid, dir);
      const ours = (await attachMount({ pid, path: vol(), source: stage() })).mntId;
      const stopFlipper = await startFlipper(pid, FLIPPER, parent(), stop);
      const e = await outcome(detachMount({ pid, path: vol(), mntId: ours }));
      await stopFlipper();
      if (e === undefined) {
        counts.detached++;
        assert.deepEqual(
          mountIds(pid, dir),
          before,
          `round ${i}: detach removed something other than mount ${ours}`,
        );
        continue;
      }
      counts.refused++;
      // Refused or failed, it says what it saw, and nothing was unmounted.
      assert.match(
        e.helperMessage,
        /not ours|symlink|does not exist|not a directory|inside mnt/,
        `round ${i}: ${e.helperMessage}`,
      );
      assert.deepEqual(
        mountIds(pid, dir),
        [...before, ours].sort((a, b) => a - b),
        `round ${i}: ${e.helperMessage}`,
      );
      await detachMount({ pid, path: vol(), mntId: ours });
      assert.deepEqual(mountIds(pid, dir), before, `round ${i}: the second detach`);
    }
    assert.deepEqual(ourMountsUnder(dir), hostBefore, "the host's mounts changed");
    // The race was really run: some detaches met a flipped path, some the real one.
    assert.ok(counts.refused > 0 && counts.detached > 0, JSON.stringify(counts));
    console.log(`      detach under a flipping path: ${JSON.stringify(counts)}`);
  });

  it('refuses when another mount is stacked on ours or mounted under it, even lazily, and leaves both', async () => {
    const pid = target!.pid;
    const before = mountIds(pid, dir);
    const ours = (await attachMount({ pid, path: vol(), source: stage() })).mntId;
    for (const [where, re] of [
      [vol(), /not ours \(mnt \d+ is now at .*data: .*mounted over it\)/],
      [path.join(vol(), 'sub'), /is mounted on or under ours/],
    ] as const) {
      inNamespace(pid, `mount -t tmpfs other ${where}`);
      const withOther = mountIds(pid, dir);
      for (const lazy of [false, true]) {
        const e = await outcome(detachMount({ pid, path: vol(), mntId: ours, lazy }));
        assert.ok(e?.refused, `lazy=${lazy} at ${where}: ${e?.message ?? 'detached'}`);
        assert.match(e.helperMessage, re);
        assert.deepEqual(mountIds(pid, dir), withOther);
      }
      inNamespace(pid, `umount ${where}`);
    }
    await detachMount({ pid, path: vol(), mntId: ours });
    assert.deepEqual(mountIds(pid, dir), before);
  });
});
