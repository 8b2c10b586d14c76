/**
 * ChaosFS with no rule is a faithful pass-through: every operation, checked against the same
 * operation's effect on the backing directory, on a real FUSE mount.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requireRootAndFuse } from '../support/root';
import { startChaosFs, type ChaosFsProcess } from '../support/chaosfs-process';
import { isMounted } from '../support/mounts';

describe('ChaosFS pass-through', () => {
  let c: ChaosFsProcess;
  const m = (...p: string[]) => path.join(c.mnt, ...p);
  const s = (...p: string[]) => path.join(c.src, ...p);

  before(async () => {
    requireRootAndFuse();
    c = await startChaosFs();
  });
  after(async () => c?.cleanup());

  it('reads and writes byte-identical data, visible in the backing after fsync', () => {
    const data = crypto.randomBytes(3 * 1024 * 1024 + 123);
    const fd = fs.openSync(m('blob'), 'w');
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
    assert.ok(fs.readFileSync(s('blob')).equals(data), 'backing has the bytes after fsync');
    fs.closeSync(fd);
    assert.ok(fs.readFileSync(m('blob')).equals(data), 'reading back through ChaosFS');
    // Writes at offsets and reads at offsets.
    const fd2 = fs.openSync(m('blob'), 'r+');
    fs.writeSync(fd2, Buffer.from('HELLO'), 0, 5, 1_000_000);
    const back = Buffer.alloc(5);
    fs.readSync(fd2, back, 0, 5, 1_000_000);
    fs.closeSync(fd2);
    assert.equal(back.toString(), 'HELLO');
    assert.equal(fs.readFileSync(s('blob')).subarray(1_000_000, 1_000_005).toString(), 'HELLO');
  });

  it('shows the same attributes as the backing, to the nanosecond and full 64-bit inode', () => {
    fs.writeFileSync(s('attrs'), 'x'.repeat(5000));
    const a = fs.lstatSync(m('attrs'), { bigint: true });
    const b = fs.lstatSync(s('attrs'), { bigint: true });
    for (const k of ['ino', 'mode', 'nlink', 'uid', 'gid', 'size', 'blocks', 'mtimeNs', 'ctimeNs'] as const) {
      assert.equal(a[k], b[k], `${k} differs`);
    }
    const fd = fs.openSync(m('attrs'), 'r');
    const f = fs.fstatSync(fd, { bigint: true });
    fs.closeSync(fd);
    assert.equal(f.size, b.size, 'fgetattr size');
    assert.equal(f.mtimeNs, b.mtimeNs, 'fgetattr mtime');
  });

  it('sets atime and mtime separately, to the nanosecond (utimens)', () => {
    fs.writeFileSync(s('times'), '');
    execFileSync('touch', ['-m', '-d', '2020-01-02 03:04:05.123456789 UTC', m('times')]);
    execFileSync('touch', ['-a', '-d', '2019-05-06 07:08:09.987654321 UTC', m('times')]);
    const b = fs.statSync(s('times'), { bigint: true });
    assert.equal(b.mtimeNs, 1577934245123456789n, 'mtime');
    assert.equal(b.atimeNs, 1557126489987654321n, 'atime');
  });

  it('lists directories, makes and removes them', () => {
    fs.mkdirSync(m('d/e/f'), { recursive: true });
    fs.writeFileSync(m('d/e/f/g'), 'g');
    assert.ok(fs.statSync(s('d/e/f')).isDirectory());
    assert.deepEqual(fs.readdirSync(m('d/e/f')).sort(), fs.readdirSync(s('d/e/f')).sort());
    assert.deepEqual(fs.readdirSync(m('.')).sort(), fs.readdirSync(s('.')).sort());
    assert.throws(() => fs.rmdirSync(m('d/e')), { code: 'ENOTEMPTY' });
    fs.unlinkSync(m('d/e/f/g'));
    fs.rmdirSync(m('d/e/f'));
    assert.equal(fs.existsSync(s('d/e/f')), false);
  });

  it('renames files and directories, and then finds them under the new name', () => {
    fs.mkdirSync(m('r1/sub'), { recursive: true });
    fs.writeFileSync(m('r1/sub/file'), 'moved');
    fs.renameSync(m('r1'), m('r2'));
    assert.equal(fs.readFileSync(m('r2/sub/file'), 'utf8'), 'moved');
    assert.equal(fs.existsSync(m('r1')), false);
    // A new directory under the old name is a different directory: the dir-fd cache must not mix them.
    fs.mkdirSync(m('r1/sub'), { recursive: true });
    fs.writeFileSync(m('r1/sub/other'), 'new');
    assert.deepEqual(fs.readdirSync(s('r1/sub')), ['other']);
    assert.deepEqual(fs.readdirSync(s('r2/sub')), ['file']);
  });

  it('makes hard links and symlinks, and reads links', () => {
    fs.writeFileSync(m('target'), 't');
    fs.linkSync(m('target'), m('hard'));
    assert.equal(fs.statSync(s('target')).nlink, 2);
    assert.equal(fs.statSync(m('hard')).ino, fs.statSync(s('target')).ino);
    fs.symlinkSync('target', m('soft'));
    assert.equal(fs.readlinkSync(s('soft')), 'target');
    assert.equal(fs.readlinkSync(m('soft')), 'target');
    assert.equal(fs.readFileSync(m('soft'), 'utf8'), 't');
  });

  it('changes mode and owner, and truncates by path and by fd', () => {
    fs.writeFileSync(m('perm'), '0123456789');
    fs.chmodSync(m('perm'), 0o640);
    assert.equal(fs.statSync(s('perm')).mode & 0o7777, 0o640);
    fs.chownSync(m('perm'), 1234, 5678);
    const st = fs.statSync(s('perm'));
    assert.deepEqual([st.uid, st.gid], [1234, 5678]);
    fs.truncateSync(m('perm'), 4);
    assert.equal(fs.readFileSync(s('perm'), 'utf8'), '0123');
    const fd = fs.openSync(m('perm'), 'r+');
    fs.ftruncateSync(fd, 2);
    fs.closeSync(fd);
    assert.equal(fs.readFileSync(s('perm'), 'utf8'), '01');
  });

  it('passes statfs and access through', () => {
    const a = fs.statfsSync(m('.'));
    const b = fs.statfsSync(s('.'));
    assert.equal(a.bsize, b.bsize);
    assert.equal(a.blocks, b.blocks);
    fs.writeFileSync(s('noexec'), '');
    fs.chmodSync(s('noexec'), 0o644);
    assert.throws(() => fs.accessSync(m('noexec'), fs.constants.X_OK), { code: 'EACCES' });
    fs.accessSync(m('noexec'), fs.constants.R_OK);
  });

  it('makes FIFOs (mknod)', () => {
    execFileSync('mkfifo', [m('fifo')]);
    assert.ok(fs.lstatSync(s('fifo')).isFIFO());
  });

  it('passes extended attributes through', () => {
    fs.writeFileSync(m('xa'), '');
    execFileSync('setfattr', ['-n', 'user.colour', '-v', 'blue', m('xa')]);
    assert.match(
      execFileSync('getfattr', ['-n', 'user.colour', s('xa')], { encoding: 'utf8' }),
      /user.colour="blue"/,
    );
    assert.match(execFileSync('getfattr', ['-d', m('xa')], { encoding: 'utf8' }), /user.colour="blue"/);
    execFileSync('setfattr', ['-x', 'user.colour', m('xa')]);
    assert.doesNotMatch(execFileSync('getfattr', ['-d', s('xa')], { encoding: 'utf8' }), /colour/);
  });

  it('gives files, directories, FIFOs and symlinks made by a non-root process to that process', () => {
    fs.mkdirSync(m('shared'), { mode: 0o777 });
    fs.chmodSync(m('shared'), 0o777);
    const script = ['touch shared/f', 'mkdir shared/d', 'mkfifo shared/p', 'ln -s f shared/l'].join(' && ');
    execFileSync('setpriv', ['--reuid', '4321', '--regid', '4322', '--clear-groups', 'sh', '-c', script], {
      cwd: c.mnt,
    });
    for (const name of ['f', 'd', 'p', 'l']) {
      const st = fs.lstatSync(s('shared', name));
      assert.deepEqual([st.uid, st.gid], [4321, 4322], `${name} belongs to its creator`);
    }
  });

  it('passes backing errors through as the same errno', () => {
    assert.throws(() => fs.readFileSync(m('missing')), { code: 'ENOENT' });
    fs.mkdirSync(m('exists'));
    assert.throws(() => fs.mkdirSync(m('exists')), { code: 'EEXIST' });
    assert.throws(() => fs.rmdirSync(m('target')), { code: 'ENOTDIR' });
    assert.throws(() => fs.readdirSync(m('target')), { code: 'ENOTDIR' });
  });

  it('handles file names with newlines, spaces and non-ASCII bytes', () => {
    const name = 'a b\nc\tü€';
    fs.writeFileSync(m(name), 'odd');
    assert.equal(fs.readFileSync(s(name), 'utf8'), 'odd');
    assert.ok(fs.readdirSync(m('.')).includes(name));
  });

  it('leaves the data byte-identical in the backing after a clean unmount (SIGTERM)', async () => {
    const data = crypto.randomBytes(1024 * 1024);
    fs.writeFileSync(m('last'), data);
    assert.equal(await c.stop(), 0, `chaosfs exit code; stderr: ${c.stderr()}`);
    assert.equal(isMounted(c.mnt), false, 'unmounted');
    assert.ok(fs.readFileSync(s('last')).equals(data));
  });
});
