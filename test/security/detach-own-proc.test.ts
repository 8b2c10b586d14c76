/**
 * Detach reads the mount id of a dead FUSE mount from fdinfo, which asks no file system. iochaos-mount
 * has entered the target's namespace and root by then: "/proc/self" there is the target's /proc, a
 * procfs of another pid namespace (no "self" for us) or whatever the app mounted there. The fdinfo
 * read must be our own, through a /proc opened before setns, whatever the target's /proc holds.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { attachMount, detachMount } from '../../sidecar/kernel/mount';
import { requireRootAndFuse } from '../support/root';
import { mountIdAt, ourMountsUnder, startTarget, Target, tempDir, unmountAllUnder } from '../native/support';

/** A bindfs (FUSE) mount of src at dir served in the foreground, so the test can kill its server. */
async function killableBindfs(src: string, dir: string): Promise<ChildProcess> {
  fs.mkdirSync(dir, { recursive: true });
  const before = mountsAt(dir);
  const child = spawn('bindfs', ['-f', '-o', 'attr_timeout=0', src, dir], { stdio: 'ignore' });
  for (let i = 0; i < 400 && mountsAt(dir) === before; i++) await sleep(25);
  assert.equal(mountsAt(dir), before + 1, `bindfs did not mount ${dir}`);
  return child;
}

const mountsAt = (dir: string) => ourMountsUnder(dir).filter((l) => l.split(' ')[4] === dir).length;

describe("security: detach reads its own fdinfo, not the target's /proc (issue 10, item 3)", () => {
  let dir: string;
  let target: Target | undefined;
  let server: ChildProcess | undefined;
  const vol = () => path.join(dir, 'vol');
  const stage = () => path.join(dir, 'stage');

  before(() => {
    requireRootAndFuse();
    dir = tempDir('detach-own-proc');
    fs.mkdirSync(vol());
    fs.mkdirSync(path.join(dir, 'fuse-src'));
  });

  afterEach(async () => {
    server?.kill('SIGKILL');
    server = undefined;
    target?.kill();
    await target?.exit();
    target = undefined;
    unmountAllUnder(dir);
  });

  after(() => {
    assert.deepEqual(ourMountsUnder(dir), [], 'a mount was left behind');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // What the target's /proc is: empty (a tmpfs over it), or lying (every fdinfo names mount 1).
  const fakeFdinfo =
    'mkdir -p /proc/self/fdinfo && for n in $(seq 0 64); do echo "mnt_id:\t1" > /proc/self/fdinfo/$n; done';
  for (const [what, setup] of [
    ['a tmpfs (no /proc/self at all)', 'mount -t tmpfs no-proc /proc'],
    [
      'a tmpfs where the app wrote fdinfo files naming another mount',
      `mount -t tmpfs fake-proc /proc && ${fakeFdinfo}`,
    ],
  ] as const) {
    it(`takes off a dead ChaosFS mount when the target's /proc is ${what}`, async () => {
      target = await startTarget(setup, ['sh', '-c', 'echo \'{"ready":true}\'; exec cat']);
      const pid = target.pid;
      const below = mountIdAt(pid, '/');
      server = await killableBindfs(path.join(dir, 'fuse-src'), stage());
      const ours = (await attachMount({ pid, path: vol(), source: stage() })).mntId;
      assert.equal(mountIdAt(pid, vol()), ours);
      server.kill('SIGKILL');
      await new Promise((r) => server!.once('exit', r));
      server = undefined;
      const stat = spawnSync('nsenter', ['-t', String(pid), '-m', 'stat', `${vol()}/.`], {
        encoding: 'utf8',
      });
      assert.match(stat.stderr, /not connected/, 'the mount is dead');

      const r = await detachMount({ pid, path: vol(), mntId: ours });
      assert.equal(r.detachedMntId, ours);
      const left = fs
        .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
        .split('\n')
        .filter((l) => Number(l.split(' ')[0]) === ours);
      assert.deepEqual(left, [], 'our mount is gone from the target');
      assert.ok(mountIdAt(pid, '/') === below, "the target's root mount is untouched");
    });
  }
});
