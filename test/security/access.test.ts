/** The pure POSIX decisions ChaosFS's access guard takes on real attributes (no root needed). */
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as a from '../../sidecar/chaosfs/access';

const { EACCES, EPERM } = os.constants.errno;
const user = { uid: 1000, gid: 1000, groups: [50] };
const root = { uid: 0, gid: 0, groups: [] };
const file = (mode: number, uid = 0, gid = 0) => ({ mode: 0o100000 | mode, uid, gid });
const dir = (mode: number, uid = 0, gid = 0) => ({ mode: 0o040000 | mode, uid, gid });

describe('security: access decisions on real attributes (access.ts)', () => {
  it('picks owner, then group (primary or supplementary), then other bits; root bypasses', () => {
    assert.equal(a.mayAccess(user, file(0o600), a.R), EACCES);
    assert.equal(a.mayAccess(user, file(0o604), a.R), 0);
    assert.equal(a.mayAccess(user, file(0o064, 1000), a.R), EACCES, 'owner bits win even when narrower');
    assert.equal(a.mayAccess(user, file(0o640, 0, 50), a.R), 0, 'supplementary group');
    assert.equal(a.mayAccess(user, file(0o604, 0, 50), a.R), EACCES, 'group bits win over other');
    assert.equal(a.mayAccess(root, file(0o000), a.R | a.W), 0);
    assert.equal(a.mayAccess(root, file(0o644), a.X), EACCES, 'root executes only what someone may');
    assert.equal(a.mayAccess(root, dir(0o000), a.X), 0);
  });

  it('open checks read and write by access mode and O_TRUNC', () => {
    assert.equal(a.mayOpen(user, file(0o644), fsFlags('r')), 0);
    assert.equal(a.mayOpen(user, file(0o644), fsFlags('r+')), EACCES);
    assert.equal(a.mayOpen(user, file(0o622), fsFlags('w')), 0);
    assert.equal(a.mayOpen(user, file(0o644), 0o1000), EACCES, 'O_RDONLY|O_TRUNC needs write');
  });

  it('only the owner or root may chmod; S_ISGID is dropped outside the group; clearing set-id is allowed', () => {
    assert.deepEqual(a.mayChmod(user, file(0o700), 0o4755), { errno: EPERM });
    assert.deepEqual(a.mayChmod(user, file(0o700, 1000), 0o4755), { mode: 0o4755 });
    assert.deepEqual(a.mayChmod(user, file(0o700, 1000, 7), 0o2755), { mode: 0o755 });
    assert.deepEqual(a.mayChmod(user, file(0o4755), 0o755), { mode: 0o755 });
    assert.deepEqual(a.mayChmod(root, file(0o700, 5), 0o4755), { mode: 0o4755 });
  });

  it('only root gives a file away; the owner may change the group to one of its own', () => {
    assert.equal(a.mayChown(user, file(0o644, 1000), 0, -1), EPERM);
    assert.equal(a.mayChown(user, file(0o644, 1000), 1000, 50), 0);
    assert.equal(a.mayChown(user, file(0o644, 1000), -1, 7), EPERM);
    assert.equal(a.mayChown(user, file(0o644, 0), -1, 50), EPERM, 'not the owner');
    assert.equal(a.mayChown(root, file(0o644, 1000), 0, 0), 0);
  });

  it('sticky directories: only the owner of the file or directory (or root) may delete', () => {
    assert.equal(a.mayDelete(user, dir(0o1777), file(0o644, 0)), EPERM);
    assert.equal(a.mayDelete(user, dir(0o1777), file(0o644, 1000)), 0);
    assert.equal(a.mayDelete(user, dir(0o1777, 1000), file(0o644, 0)), 0);
    assert.equal(a.mayDelete(user, dir(0o755), file(0o644, 1000)), EACCES);
    assert.equal(a.mayCreateIn(user, dir(0o757)), 0);
  });

  it('times, hard links, xattrs and set-id clearing follow the kernel', () => {
    assert.equal(a.mayUtimens(user, file(0o666), true), EPERM);
    assert.equal(a.mayUtimens(user, file(0o666), false), 0);
    assert.equal(a.mayUtimens(user, file(0o644), false), EACCES);
    assert.equal(a.mayLink(user, file(0o4777)), EPERM);
    assert.equal(a.mayLink(user, file(0o600)), EPERM);
    assert.equal(a.mayLink(user, file(0o666)), 0);
    assert.equal(a.mayXattr(user, file(0o644), 'user.x', true), EACCES);
    assert.equal(a.mayXattr(user, file(0o644), 'user.x', false), 0);
    assert.equal(a.mayXattr(user, file(0o666), 'trusted.x', true), EPERM);
    assert.equal(a.setidToClear(user, file(0o6777)), 0o6000);
    assert.equal(a.setidToClear(user, file(0o2747)), 0, 'S_ISGID without group exec is mandatory locking');
    assert.equal(a.setidToClear(root, file(0o6777)), 0);
  });
});

function fsFlags(f: 'r' | 'r+' | 'w'): number {
  return { r: 0, 'r+': 2, w: 1 }[f];
}
