/**
 * The backing walk never leaves the volume: symlinks (absolute, relative, to a directory) and ".."
 * planted by the app are refused instead of followed, because the worker is privileged.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Backing, split } from '../../sidecar/chaosfs/backing';
import { openDirInRoot } from '../../sidecar/chaosfs/syscalls';

describe('backing paths stay beneath the volume root', () => {
  let dir: string;
  let backing: Backing;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backing-'));
    fs.mkdirSync(path.join(dir, 'vol/real'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'secret'), 'outside');
    fs.symlinkSync(dir, path.join(dir, 'vol/abs')); // absolute, to the directory holding the secret
    fs.symlinkSync('..', path.join(dir, 'vol/up'));
    fs.symlinkSync('../secret', path.join(dir, 'vol/leaf'));
    backing = await Backing.open(path.join(dir, 'vol'));
  });
  after(() => {
    backing.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to walk through a symlink to a directory, absolute or relative', async () => {
    await assert.rejects(backing.locate('/abs/secret'), { code: 'ENOTDIR' });
    await assert.rejects(backing.locate('/up/secret'), { code: 'ENOTDIR' });
  });

  it('names a final symlink itself, so no-follow calls act on the link, not its target', async () => {
    const at = await backing.locate('/leaf');
    try {
      assert.ok(fs.lstatSync(at.path).isSymbolicLink());
      await assert.rejects(fs.promises.open(at.path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW), {
        code: 'ELOOP',
      });
    } finally {
      at.release();
    }
  });

  it('refuses "..", "." and empty components outright', () => {
    assert.throws(() => split('/real/../../secret'), /refusing path/);
    assert.throws(() => split('/./real'), /refusing path/);
    assert.throws(() => split('//real'), /refusing path/);
  });

  it('finds a directory again after it is replaced under the same name', async () => {
    const a = await backing.locate('/real/x');
    a.release();
    fs.renameSync(path.join(dir, 'vol/real'), path.join(dir, 'vol/moved'));
    backing.invalidate('/real');
    fs.mkdirSync(path.join(dir, 'vol/real'));
    fs.writeFileSync(path.join(dir, 'vol/real/x'), 'new');
    const b = await backing.locate('/real/x');
    try {
      assert.equal(fs.readFileSync(b.path, 'utf8'), 'new');
    } finally {
      b.release();
    }
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
