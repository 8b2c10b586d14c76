/**
 * Every op passed through natively beneath the root fd, with no JS involved: the answers are the
 * backing's (same errno, 64-bit inode numbers, ns times), new files belong to the caller, and shared
 * mmap works (the page cache is on while no rule can see reads and writes).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { eachSandbox, mount, py, sh } from './support';

describe('fuse-native (libfuse3): native pass-through', function () {
  const box = eachSandbox();

  it('reports the backing inode number, size and ns times as they are on the backing', async function () {
    const b = box();
    fs.mkdirSync(path.join(b.backing, 'd'));
    fs.symlinkSync('hello', path.join(b.backing, 'l'));
    mount(b);
    for (const name of ['hello', 'd', 'l', '']) {
      const got = fs.lstatSync(path.join(b.mnt, name), { bigint: true });
      const want = fs.lstatSync(path.join(b.backing, name), { bigint: true });
      assert.equal(got.ino, want.ino, `${name}: ino`);
      assert.equal(got.mode, want.mode, `${name}: mode`);
      assert.equal(got.size, want.size, `${name}: size`);
      assert.equal(got.mtimeNs, want.mtimeNs, `${name}: mtime`);
    }
    assert.deepEqual(fs.readdirSync(b.mnt).sort(), ['d', 'hello', 'l']);
    assert.equal(fs.readlinkSync(path.join(b.mnt, 'l')), 'hello');
  });

  it('sets atime and mtime separately, in ns, pre-1970 too, with UTIME_NOW and UTIME_OMIT', async function () {
    const b = box();
    mount(b);
    const f = path.join(b.mnt, 'hello');
    const back = path.join(b.backing, 'hello');
    const before = fs.statSync(back, { bigint: true });
    assert.equal((await sh(`touch -a -d @-1234.5 '${f}'`)).code, 0);
    let st = fs.statSync(back, { bigint: true });
    assert.equal(st.atimeNs, -1234500000000n);
    assert.equal(st.mtimeNs, before.mtimeNs, 'mtime omitted');
    assert.equal((await sh(`touch -m -d @1700000000.123456789 '${f}'`)).code, 0);
    st = fs.statSync(back, { bigint: true });
    assert.equal(st.mtimeNs, 1700000000123456789n);
    assert.equal(st.atimeNs, -1234500000000n, 'atime omitted');
    assert.equal((await sh(`touch '${f}'`)).code, 0);
    st = fs.statSync(back, { bigint: true });
    assert.ok(st.mtimeNs > 1700000000123456789n && st.atimeNs > 0n, 'now');
  });

  it('chmod, chown, truncate, rename (with flags), link, unlink, rmdir, mknod: same answers as the backing', async function () {
    const b = box();
    mount(b);
    const m = (p: string) => path.join(b.mnt, p);
    const k = (p: string) => path.join(b.backing, p);
    fs.chmodSync(m('hello'), 0o640);
    assert.equal(fs.statSync(k('hello')).mode & 0o7777, 0o640);
    fs.chownSync(m('hello'), 1234, 5678);
    assert.deepEqual([fs.statSync(k('hello')).uid, fs.statSync(k('hello')).gid], [1234, 5678]);
    fs.truncateSync(m('hello'), 5);
    assert.equal(fs.readFileSync(k('hello'), 'utf8'), 'hello');
    fs.writeFileSync(m('other'), 'other');
    // renameat2: NOREPLACE refuses an existing target, EXCHANGE swaps.
    const renameat2 = (flags: number) =>
      py(`import ctypes,os
libc=ctypes.CDLL(None,use_errno=True)
r=libc.renameat2(-100,b'${m('hello')}',-100,b'${m('other')}',${flags})
print(0 if r==0 else -ctypes.get_errno())`);
    assert.equal((await renameat2(1)).stdout.trim(), '-17'); // RENAME_NOREPLACE: EEXIST
    assert.equal((await renameat2(2)).stdout.trim(), '0'); // RENAME_EXCHANGE
    assert.equal(fs.readFileSync(k('hello'), 'utf8'), 'other');
    assert.equal(fs.readFileSync(k('other'), 'utf8'), 'hello');
    fs.linkSync(m('other'), m('hard'));
    assert.equal(fs.statSync(m('hard')).ino, fs.statSync(k('other')).ino);
    assert.equal(fs.statSync(m('other')).nlink, 2);
    fs.unlinkSync(m('hard'));
    assert.ok(!fs.existsSync(k('hard')));
    fs.mkdirSync(m('d'));
    fs.writeFileSync(m('d/x'), '');
    assert.throws(() => fs.rmdirSync(m('d')), { code: 'ENOTEMPTY' });
    assert.throws(() => fs.mkdirSync(m('d')), { code: 'EEXIST' });
    assert.throws(() => fs.readFileSync(m('nope')), { code: 'ENOENT' });
    fs.unlinkSync(m('d/x'));
    fs.rmdirSync(m('d'));
    assert.equal((await sh(`mkfifo '${m('fifo')}'`)).code, 0);
    assert.ok(fs.lstatSync(k('fifo')).isFIFO());
  });

  it('gives files made by a non-root process to that process (create, mkdir, symlink, mknod)', async function () {
    const b = box();
    fs.chmodSync(b.base, 0o755); // mkdtemp's 0700 would stop the caller before the mount
    fs.chmodSync(b.backing, 0o777);
    mount(b, { options: { allowOther: true, defaultPermissions: true } });
    const r = await sh(
      `setpriv --reuid 4321 --regid 4322 --clear-groups sh -c "echo x > '${b.mnt}/f' && mkdir '${b.mnt}/d' && ln -s f '${b.mnt}/l' && mkfifo '${b.mnt}/p'"`,
    );
    assert.equal(r.code, 0, r.stderr);
    for (const name of ['f', 'd', 'l', 'p']) {
      const st = fs.lstatSync(path.join(b.backing, name));
      assert.deepEqual([st.uid, st.gid], [4321, 4322], name);
    }
    // The kernel applied the caller's umask; the server's own umask does not apply again.
    const m = await sh(
      `setpriv --reuid 4321 --regid 4322 --clear-groups sh -c "umask 0; mkdir -m 0777 '${b.mnt}/open'"`,
    );
    assert.equal(m.code, 0, m.stderr);
    assert.equal(fs.statSync(path.join(b.backing, 'open')).mode & 0o777, 0o777);
  });

  it('xattrs: set, get, list, remove; a size query and ERANGE as on the backing', async function () {
    const b = box();
    mount(b);
    const f = path.join(b.mnt, 'hello');
    const r = await py(`import os,errno
f='${f}'
os.setxattr(f,'user.k',b'value')
print(os.getxattr(f,'user.k').decode(), 'user.k' in os.listxattr(f))
import ctypes
libc=ctypes.CDLL(None,use_errno=True)
print(libc.getxattr(f.encode(),b'user.k',None,0))
buf=ctypes.create_string_buffer(2)
print(libc.getxattr(f.encode(),b'user.k',buf,2), ctypes.get_errno()==errno.ERANGE)
os.removexattr(f,'user.k')
try: os.getxattr(f,'user.k')
except OSError as e: print(e.errno==errno.ENODATA)`);
    assert.equal(r.stdout, 'value True\n5\n-1 True\nTrue\n', r.stderr);
  });

  it('reads and writes at offsets above 2^32; fallocate, copy_file_range and SEEK_DATA/SEEK_HOLE pass through', async function () {
    const b = box();
    mount(b);
    const f = path.join(b.mnt, 'big');
    const r = await py(`import os
fd=os.open('${f}',os.O_RDWR|os.O_CREAT,0o644)
os.pwrite(fd,b'far',5*2**32)
print(os.pread(fd,3,5*2**32).decode(), os.fstat(fd).st_size)
print(os.lseek(fd,0,os.SEEK_DATA)>=5*2**32-4096, os.lseek(fd,0,os.SEEK_HOLE))
os.posix_fallocate(fd,0,1<<20)
print(os.stat('${path.join(b.backing, 'big')}').st_blocks>=2048)
out=os.open('${path.join(b.mnt, 'copy')}',os.O_RDWR|os.O_CREAT,0o644)
print(os.copy_file_range(fd,out,3,5*2**32,0), os.pread(out,3,0).decode())`);
    assert.equal(r.stdout, `far ${5 * 2 ** 32 + 3}\nTrue 0\nTrue\n3 far\n`, r.stderr);
  });

  it('lists a directory of 10,000 entries (readdir and readdirplus)', async function () {
    const b = box();
    for (let i = 0; i < 10_000; i++) fs.writeFileSync(path.join(b.backing, `f${i}`), '');
    mount(b);
    const ls = await sh(`ls -U '${b.mnt}' | wc -l; ls -lU '${b.mnt}' | grep -c '^-'`);
    assert.equal(ls.stdout, '10001\n10001\n');
  });

  it('mmap(MAP_SHARED) works with no rule: writes through the mapping reach the backing', async function () {
    const b = box();
    mount(b);
    const r = await py(`import mmap,os
fd=os.open('${b.mnt}/hello',os.O_RDWR)
m=mmap.mmap(fd,0,mmap.MAP_SHARED)
m[0:5]=b'HELLO'
m.flush()
print(open('${b.backing}/hello').read().strip())`);
    assert.equal(r.stdout, 'HELLO world\n', r.stderr);
  });

  it('resolves nothing twice: a cached directory stays the directory it was, even replaced by a symlink', async function () {
    const b = box();
    fs.mkdirSync(path.join(b.backing, 'd'));
    fs.writeFileSync(path.join(b.backing, 'd/inside'), 'inside\n');
    mount(b, { options: { attrTimeout: 60, entryTimeout: 60 } });
    assert.equal(fs.readFileSync(path.join(b.mnt, 'd/inside'), 'utf8'), 'inside\n');
    fs.renameSync(path.join(b.backing, 'd'), path.join(b.backing, 'd.old'));
    fs.symlinkSync('/etc', path.join(b.backing, 'd'));
    // The kernel's cached dentry still names the inode held by its O_PATH fd: no path is walked again.
    assert.deepEqual(fs.readdirSync(path.join(b.mnt, 'd')), ['inside']);
    assert.throws(() => fs.readFileSync(path.join(b.mnt, 'd/passwd')), { code: 'ENOENT' });
  });

  it('serves many concurrent callers (64 readers and writers on separate files)', async function () {
    const b = box();
    mount(b);
    const r = await sh(
      `for i in $(seq 64); do (dd if=/dev/urandom of='${b.mnt}'/c$i bs=64k count=16 2>/dev/null && cmp '${b.mnt}'/c$i '${b.backing}'/c$i && echo ok) & done; wait`,
    );
    assert.equal(r.stdout.split('\n').filter((l) => l === 'ok').length, 64, r.stderr);
  });
});
