/**
 * Issue 10, "refused today — keep it so": a volume path that is or goes through a symlink, escapes
 * with "..", or goes through /proc/N/root is refused, naming why; and an app (uid 1000) that flips its
 * volume directory to a symlink while the injection starts never gets ChaosFS over anything but the
 * directory the daemon checked: it is refused, or ChaosFS serves that directory, at that path.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requireRootAndFuse } from '../support/root';
import { testDaemon, type TestDaemon } from '../support/daemon';
import { mounts } from '../support/mounts';
import { startTarget, tempDir, type Target } from '../native/support';
import { APP_UID, startFlipper } from './flipper';

const ROUNDS = 20;

/*
 * In P (its own): a/ becomes a symlink to the decoy and back, until the stop file appears; each state
 * lasts up to 20 ms, so a daemon's steps fall on either.
 */
const FLIPPER = `
chdir $ARGV[0] or die "chdir: $!";
$| = 1; print "flipping\\n";
until (-e $ARGV[1]) {
  # EBUSY: ChaosFS is mounted on a (injected): nothing left to flip, wait for the stop file.
  if (!rename("a", "a.x")) { $!{EBUSY} or die "rename: $!"; select(undef, undef, undef, 0.01) until -e $ARGV[1]; last }
  symlink("../decoy", "a") or die "symlink: $!";
  select(undef, undef, undef, rand(0.02));
  unlink("a") or die "unlink: $!";
  # EBUSY: the directory was mounted on while it was a.x; the test looks at what that mount is.
  if (!rename("a.x", "a")) { $!{EBUSY} or die "rename back: $!"; select(undef, undef, undef, 0.01) until -e $ARGV[1]; last }
  select(undef, undef, undef, rand(0.02));
}
`;

describe('security: volume paths the daemon refuses, and a volume flipped to a symlink (issue 10)', () => {
  let dir: string;
  let d: TestDaemon;
  let target: Target | undefined;
  const P = () => path.join(dir, 'P'); // the app's own directory
  const vol = () => path.join(P(), 'a');
  const decoy = () => path.join(dir, 'decoy'); // root's, 0700
  const chaosMounts = () => mounts(target!.pid).filter((m) => m.fstype === 'fuse.chaosfs');

  before(async () => {
    requireRootAndFuse();
    dir = tempDir('volume-paths');
    fs.chmodSync(dir, 0o755);
    fs.mkdirSync(vol(), { recursive: true });
    fs.writeFileSync(path.join(vol(), 'marker'), 'a');
    fs.mkdirSync(decoy(), { mode: 0o700 });
    fs.writeFileSync(path.join(decoy(), 'marker'), 'decoy', { mode: 0o600 });
    for (const p of [P(), vol(), path.join(vol(), 'marker')]) fs.chownSync(p, APP_UID, APP_UID);
    fs.symlinkSync('a', path.join(P(), 'link'));
    fs.symlinkSync('..', path.join(P(), 'up'));
    fs.symlinkSync('/etc', path.join(P(), 'etc'));
    target = await startTarget('true', ['sh', '-c', 'echo \'{"ready":true}\'; exec cat']);
    d = testDaemon();
    await d.start();
  });

  after(async () => {
    target?.kill();
    await target?.exit();
    await d?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses symlinked, escaping and /proc/N/root volume paths, naming why, and mounts nothing', async () => {
    const pid = target!.pid;
    const cases: [string, RegExp][] = [
      [path.join(P(), 'link'), /P\/link is a symlink in the target/],
      [path.join(P(), 'up', 'P', 'a'), /P\/up is a symlink in the target/],
      [path.join(P(), 'etc'), /P\/etc is a symlink in the target/],
      [`${P()}/../decoy`, /must not contain "\.\." or "\." components/],
      [`${P()}/a/../../decoy`, /must not contain "\.\." or "\." components/],
      ['P/a', /must be an absolute path/],
      [`/proc/self/root${vol()}`, /\/proc\/self is a symlink in the target/],
      [`/proc/${pid}/root${vol()}`, new RegExp(`/proc/${pid}/root is a symlink in the target`)],
      [`/proc/1/root${decoy()}`, /\/proc\/1\/root is a symlink in the target/],
      [`/proc/${pid}/cwd`, new RegExp(`/proc/${pid}/cwd is a symlink in the target`)],
    ];
    for (const [volumePath, expected] of cases) {
      const r = d.cli('delay', `pid/${pid}`, '--path', volumePath, '--delay', '1ms');
      assert.notEqual(r.status, 0, `${volumePath} was injected`);
      assert.match(r.stderr, expected, volumePath);
    }
    assert.deepEqual(chaosMounts(), [], 'nothing was mounted');
  });

  it(`an app flipping its volume to a symlink while injections start, ${ROUNDS} rounds: that directory or nothing`, async () => {
    const pid = target!.pid;
    const stop = path.join(dir, 'stop');
    const counts = { injected: 0, refused: 0, movedAway: 0 };
    const reasons = new Set<string>();
    for (let i = 0; i < ROUNDS; i++) {
      const stopFlipper = await startFlipper(pid, FLIPPER, P(), stop);
      const r = d.cli('delay', `pid/${pid}`, '--path', vol(), '--delay', '1ms');
      await stopFlipper();
      const mounted = chaosMounts();
      // The directory was renamed between the mount helper's look and its move_mount: the helper
      // must have taken its mount off again (asserted below); the layout is put back for the next round.
      if (fs.existsSync(path.join(P(), 'a.x'))) {
        counts.movedAway++;
        fs.rmSync(vol(), { force: true });
        fs.renameSync(path.join(P(), 'a.x'), vol());
      }
      if (r.status !== 0) {
        counts.refused++;
        reasons.add(r.stderr.split('\n')[0]);
        assert.match(
          r.stderr,
          /symlink|does not exist|not a directory|changed while|failed and was rolled back/,
          r.stderr,
        );
        assert.deepEqual(mounted, [], `round ${i}: refused, yet mounted`);
        continue;
      }
      counts.injected++;
      // ChaosFS is on the volume path only, and serves the app's own directory, not the decoy.
      assert.deepEqual(
        mounted.map((m) => m.mountpoint),
        [vol()],
        `round ${i}`,
      );
      assert.equal(fs.readFileSync(`/proc/${pid}/root${vol()}/marker`, 'utf8'), 'a', `round ${i}`);
      const rec = d.cli('recover', `pid/${pid}`);
      assert.equal(rec.status, 0, rec.stderr);
      assert.deepEqual(chaosMounts(), [], `round ${i}: recovered`);
    }
    assert.equal(fs.readFileSync(path.join(decoy(), 'marker'), 'utf8'), 'decoy');
    assert.deepEqual(fs.readdirSync(decoy()), ['marker']);
    assert.equal(fs.lstatSync(vol()).isDirectory(), true);
    console.log(
      `      inject under a flipping volume: ${JSON.stringify(counts)}; refused: ${[...reasons].join(' | ')}`,
    );
    assert.ok(counts.injected + counts.refused === ROUNDS);
  });
});
