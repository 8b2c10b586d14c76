import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NativeHelperError } from '../../sidecar/kernel/native-helper';
import { NSEXEC_EXIT, runInNamespace } from '../../sidecar/kernel/nsexec';
import { requireRootAndFuse } from '../support/root';
import { ourMountsUnder, startTarget, Target, tempDir, unmountAllUnder } from './support';

describe('native: nsexec.so', () => {
  let dir: string;
  let target: Target | undefined;
  const vol = () => path.join(dir, 'vol');

  before(async () => {
    requireRootAndFuse();
    dir = tempDir('nsexec');
    fs.mkdirSync(vol());
    // The tmpfs exists only in the target's namespace: seeing it proves we are in there.
    target = await startTarget(`mount -t tmpfs nsexec-test ${vol()} && echo inside > ${vol()}/marker`, [
      'sh',
      '-c',
      'echo \'{"ready":true}\'; exec cat',
    ]);
  });

  after(() => {
    target?.kill();
    unmountAllUnder(dir);
    assert.deepEqual(ourMountsUnder(dir), []);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("runs a program that sees the target namespace's mounts, and not our own", async () => {
    assert.equal(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(' nsexec-test '), false);
    const { stdout } = await runInNamespace({ pid: target!.pid }, ['cat', '/proc/self/mountinfo', `${vol()}/marker`]);
    assert.match(stdout, new RegExp(` ${vol()} .* - tmpfs nsexec-test `));
    assert.match(stdout, /^inside$/m);
  });

  it('enters through an ns file too', async () => {
    const { stdout } = await runInNamespace({ mntns: `/proc/${target!.pid}/ns/mnt` }, ['cat', `${vol()}/marker`]);
    assert.equal(stdout, 'inside\n');
  });

  it("takes itself out of LD_PRELOAD for the program's children", async () => {
    const { stdout } = await runInNamespace({ pid: target!.pid }, ['sh', '-c', 'echo "preload=[$LD_PRELOAD]"; env | grep -c IOCHAOS_NSEXEC || true']);
    assert.equal(stdout, 'preload=[]\n0\n');
  });

  it('fails before main for a pid that does not exist, and the program never runs', async () => {
    // A pid that just existed and was reaped is free.
    const gone = spawnSync('true').pid!;
    const err = await runInNamespace({ pid: gone }, ['sh', '-c', 'echo MAIN-RAN']).then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NativeHelperError);
    assert.equal(err.helper, 'nsexec.so');
    assert.equal(err.exitCode, NSEXEC_EXIT);
    assert.match(err.helperMessage, new RegExp(`nsexec: cannot enter the mount namespace of pid ${gone}: open /proc/${gone}/ns/mnt: No such file`));
    assert.equal((err.output as { stdout: string }).stdout, '');
  });

  it('refuses to run the program when no target is named', () => {
    const r = spawnSync('sh', ['-c', 'echo MAIN-RAN'], { env: { ...process.env, LD_PRELOAD: path.join(__dirname, '../../../native/out/nsexec.so') }, encoding: 'utf8' });
    assert.equal(r.status, NSEXEC_EXIT);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /refusing to run the program in the current namespace/);
  });
});
