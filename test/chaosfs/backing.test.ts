/**
 * The volume is opened without leaving its root: symlinks (absolute, relative, to a directory) and ".."
 * planted by the app are refused instead of followed, because the daemon is privileged. (Beneath the
 * volume, ChaosFS's binding opens one name at a time with O_NOFOLLOW: test/chaosfs/fast-path.test.ts.)
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openDirInRoot } from '../../sidecar/chaosfs/syscalls';

describe('the volume is opened beneath its root', () => {
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backing-'));
    fs.mkdirSync(path.join(dir, 'vol/real'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'secret'), 'outside');
    fs.symlinkSync(dir, path.join(dir, 'vol/abs')); // absolute, to the directory holding the secret
    fs.symlinkSync('..', path.join(dir, 'vol/up'));
    fs.symlinkSync('../secret', path.join(dir, 'vol/leaf'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('opens a volume inside a root without following any symlink, and never above the root', () => {
    // `vol/abs` points at the directory holding the secret, absolutely: inside the root it must not
    // resolve at all, rather than reach the caller's own /tmp.
    assert.throws(() => openDirInRoot(path.join(dir, 'vol'), '/abs'), { code: 'ELOOP' });
    assert.throws(() => openDirInRoot(path.join(dir, 'vol'), '/up/real'), { code: 'ELOOP' });
    const fd = openDirInRoot(path.join(dir, 'vol'), '/../../real');
    try {
      assert.equal(
        fs.readlinkSync(`/proc/self/fd/${fd}`),
        path.join(dir, 'vol', 'real'),
        '".." stops at the root',
      );
    } finally {
      fs.closeSync(fd);
    }
  });
});
