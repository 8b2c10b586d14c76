/**
 * The op contract ChaosFS relies on: utimens (defect 3), fgetattr (4), 64-bit / nanosecond stats (5),
 * callbacks that cannot crash the process (7), and the rest found in fuse-native.c (10).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mount, node, passthrough, run, type TimeArg, eachSandbox } from './support';

const statScript = `
  const st = require('fs').statSync(process.argv[1], { bigint: true });
  const pick = ['ino', 'size', 'blocks', 'nlink', 'uid', 'gid', 'mode', 'atimeNs', 'mtimeNs', 'ctimeNs'];
  console.log(JSON.stringify(Object.fromEntries(pick.map((k) => [k, String(st[k])]))));`;

async function statOf(file: string): Promise<Record<string, string>> {
  const child = await node(statScript, [file]);
  assert.equal(child.code, 0, child.stderr);
  return JSON.parse(child.stdout) as Record<string, string>;
}

describe('fuse-native: op contract (defects 3, 4, 5, 7, 10)', function () {
  const box = eachSandbox();

  describe('utimens (defect 3)', function () {
    it('passes atime and mtime separately as bigint nanoseconds, or "now" / "omit"', async function () {
      const b = box();
      const seen: [TimeArg, TimeArg][] = [];
      const { ops } = passthrough(b.backing, {
        utimens: (_p, atime, mtime, cb) => {
          seen.push([atime, mtime]);
          cb(0);
        },
      });
      await mount(b, ops, { attrTimeout: 0, entryTimeout: 0 });
      const file = path.join(b.mnt, 'hello');
      const touch = async (...args: string[]) => assert.equal((await run('touch', [...args, file])).code, 0);

      await touch('-a', '-d', '@978494706.123456789');
      await touch('-m', '-d', '@1000000000.5');
      await touch('-d', '@-2.25');
      await touch();
      assert.deepEqual(seen, [
        [978494706123456789n, 'omit'],
        ['omit', 1000000000500000000n],
        [-2250000000n, -2250000000n],
        ['now', 'now'],
      ]);
    });
  });

  describe('fgetattr (defect 4)', function () {
    const ftruncate = `const fs = require('fs'); const fd = fs.openSync(process.argv[1], 'r+'); fs.ftruncateSync(fd, 3); fs.closeSync(fd);`;

    it('calls ops.fgetattr with the file handle that open returned', async function () {
      const b = box();
      const opened: number[] = [];
      const fgetattrFds: number[] = [];
      const { ops, calls } = passthrough(b.backing, {
        open: (p, flags, cb) =>
          fs.open(path.join(b.backing, p), flags, (err, fd) => {
            opened.push(fd);
            cb(err ? -5 : 0, fd);
          }),
        fgetattr: (_p, fd, cb) => {
          fgetattrFds.push(fd);
          fs.fstat(fd, { bigint: true }, (err, st) => cb(err ? -5 : 0, st));
        },
      });
      await mount(b, ops, { attrTimeout: 0, entryTimeout: 0 });
      const child = await node(ftruncate, [path.join(b.mnt, 'hello')]);
      assert.equal(child.code, 0, child.stderr);
      assert.ok(fgetattrFds.length > 0, `fgetattr was not called: ${JSON.stringify(calls)}`);
      for (const fd of fgetattrFds)
        assert.ok(opened.includes(fd), `fgetattr got ${fd}, open returned ${opened}`);
      assert.equal(fs.readFileSync(path.join(b.backing, 'hello'), 'utf8'), 'hel');
    });

    it('falls back to ops.getattr when there is no fgetattr', async function () {
      const b = box();
      const { ops, calls } = passthrough(b.backing, { fgetattr: undefined });
      await mount(b, ops, { attrTimeout: 0, entryTimeout: 0 });
      const before = calls.getattr ?? 0;
      const child = await node(ftruncate, [path.join(b.mnt, 'hello')]);
      assert.equal(child.code, 0, child.stderr);
      assert.ok((calls.getattr ?? 0) > before);
      assert.equal(calls.fgetattr, undefined);
    });
  });

  describe('stat replies (defect 5)', function () {
    it('takes a real fs.BigIntStats and passes it through unchanged', async function () {
      const b = box();
      await mount(b, passthrough(b.backing).ops, { useIno: true, attrTimeout: 0, entryTimeout: 0 });
      const want = fs.lstatSync(path.join(b.backing, 'hello'), { bigint: true });
      const got = await statOf(path.join(b.mnt, 'hello'));
      assert.equal(got.ino, String(want.ino));
      assert.equal(got.size, String(want.size));
      assert.equal(got.mtimeNs, String(want.mtimeNs));
      assert.equal(got.atimeNs, String(want.atimeNs));
      assert.equal(got.ctimeNs, String(want.ctimeNs));
    });

    it('sends a full 64-bit ino and nanosecond (also pre-1970) times to the kernel', async function () {
      const b = box();
      const big = {
        ino: 2n ** 63n + 12345n,
        mode: 0o100640n,
        nlink: 3n,
        uid: 1234n,
        gid: 5678n,
        size: 2n ** 40n + 7n,
        blocks: 2n ** 33n,
        blksize: 4096n,
        rdev: 0n,
        dev: 1n,
        atimeNs: -1500000001n,
        mtimeNs: 1234567890123456789n,
        ctimeNs: 4102444800000000001n,
      };
      const { ops } = passthrough(b.backing, {
        getattr: (p, cb) =>
          p === '/big'
            ? cb(0, big)
            : fs.lstat(path.join(b.backing, p), { bigint: true }, (e, st) => cb(e ? -2 : 0, st)),
      });
      await mount(b, ops, { useIno: true, attrTimeout: 0, entryTimeout: 0 });
      const got = await statOf(path.join(b.mnt, 'big'));
      // Node's BigIntStats holds ino as a signed 64-bit value; the bits are what the kernel got.
      got.ino = String(BigInt.asUintN(64, BigInt(got.ino)));
      assert.equal((await run('stat', ['-c', '%i', path.join(b.mnt, 'big')])).stdout.trim(), String(big.ino));
      assert.deepEqual(got, {
        ino: String(big.ino),
        size: String(big.size),
        blocks: String(big.blocks),
        nlink: '3',
        uid: '1234',
        gid: '5678',
        mode: String(0o100640),
        atimeNs: '-1500000001',
        mtimeNs: '1234567890123456789',
        ctimeNs: '4102444800000000001',
      });
    });

    it('still takes the old plain numbers and Dates (times in ms)', async function () {
      const b = box();
      const { ops } = passthrough(b.backing, {
        getattr: (p, cb) =>
          p === '/old'
            ? cb(0, {
                mode: 0o100644,
                size: 5,
                mtime: new Date(1500000000123),
                atime: 1500000000456,
                ctime: new Date(0),
              })
            : fs.lstat(path.join(b.backing, p), { bigint: true }, (e, st) => cb(e ? -2 : 0, st)),
      });
      await mount(b, ops, { attrTimeout: 0, entryTimeout: 0 });
      const got = await statOf(path.join(b.mnt, 'old'));
      assert.equal(got.size, '5');
      assert.equal(got.mtimeNs, '1500000000123000000');
      assert.equal(got.atimeNs, '1500000000456000000');
    });
  });

  describe('callbacks that cannot crash the process (defect 7)', function () {
    it('treats cb(null), cb() and cb(undefined) as success on void ops', async function () {
      const b = box();
      const { ops } = passthrough(b.backing, {
        chmod: (p, mode, cb) => fs.chmod(path.join(b.backing, p), mode, () => cb(null)),
        mkdir: (p, mode, cb) => fs.mkdir(path.join(b.backing, p), mode, () => (cb as () => void)()),
        unlink: (p, cb) => fs.unlink(path.join(b.backing, p), () => cb(undefined)),
      });
      await mount(b, ops, { attrTimeout: 0, entryTimeout: 0 });
      assert.equal((await run('chmod', ['600', path.join(b.mnt, 'hello')])).code, 0);
      assert.equal(fs.statSync(path.join(b.backing, 'hello')).mode & 0o777, 0o600);
      assert.equal((await run('mkdir', [path.join(b.mnt, 'd')])).code, 0);
      assert.ok(fs.statSync(path.join(b.backing, 'd')).isDirectory());
      assert.equal((await run('rm', [path.join(b.mnt, 'hello')])).code, 0);
      assert.equal(fs.existsSync(path.join(b.backing, 'hello')), false);
    });

    it('ignores a second callback, and answers EIO for bad errnos and malformed replies', async function () {
      const b = box();
      const reported: string[] = [];
      const badStat = { mode: 0o100644, size: 'big' } as unknown as { mode: number };
      const { ops } = passthrough(b.backing, {
        unlink: (p, cb) =>
          fs.unlink(path.join(b.backing, p), () => {
            cb(0);
            cb(-2);
          }),
        rmdir: (_p, cb) => cb(1.5),
        rename: (_a, _b, cb) => cb(-99999),
        ftruncate: (_p, _fd, _s, cb) => cb('nope' as unknown as number),
        chmod: () => {
          throw new Error('handler bug');
        },
        readlink: (_p, cb) => cb(0, 42 as unknown as string),
        getattr: (p, cb) => {
          if (p === '/badstat') return cb(0, badStat);
          if (p === '/link') return cb(0, { mode: 0o120777, size: 3 });
          fs.lstat(path.join(b.backing, p), { bigint: true }, (e, st) => cb(e ? -2 : 0, st));
        },
        read: (_p, _fd, buf, len, _pos, cb) => {
          buf.fill(0x61, 0, len);
          cb(len + 1);
        },
      });
      await mount(b, ops, {
        attrTimeout: 0,
        entryTimeout: 0,
        onHandlerError: (err, op) => reported.push(`${op}: ${err}`),
      });
      fs.writeFileSync(path.join(b.backing, 'gone'), 'x');
      fs.mkdirSync(path.join(b.backing, 'dir'));
      const m = (p: string) => path.join(b.mnt, p);

      assert.equal((await run('rm', [m('gone')])).code, 0, 'the first answer (0) wins');
      const eio = /Input\/output error/;
      assert.match((await run('rmdir', [m('dir')])).stderr, eio);
      assert.match((await run('mv', [m('hello'), m('hello2')])).stderr, eio);
      assert.match((await run('truncate', ['-s', '1', m('hello')])).stderr, eio);
      assert.match((await run('chmod', ['600', m('hello')])).stderr, eio);
      assert.match((await run('readlink', ['-v', m('link')])).stderr, eio);
      assert.match((await run('stat', [m('badstat')])).stderr, eio);
      assert.match((await run('cat', [m('hello')])).stderr, eio);
      assert.ok(
        reported.some((r) => r.startsWith('chmod: Error: handler bug')),
        reported.join('\n'),
      );
      assert.ok(
        reported.some((r) => r.startsWith('read: ')),
        reported.join('\n'),
      );
      // Still alive and serving.
      assert.equal((await run('ls', [b.mnt])).code, 0);
    });
  });

  describe('other replies fuse-native.c got wrong (defect 10)', function () {
    it('lists a directory of 10,000 entries, with stats', async function () {
      const b = box();
      const names = Array.from({ length: 10000 }, (_, i) => `entry-with-a-longish-name-${i}`);
      const { ops } = passthrough(b.backing, {
        readdir: (p, cb) =>
          p === '/'
            ? cb(
                0,
                ['.', '..', ...names],
                ['.', '..', ...names].map((_, i) => ({ mode: 0o100644, ino: i + 100, size: 0 })),
              )
            : cb(-2),
      });
      await mount(b, ops, { readdirIno: true });
      const ls = await run('ls', ['-f', b.mnt]);
      assert.equal(ls.code, 0, ls.stderr);
      const got = ls.stdout.split('\n').filter(Boolean);
      assert.equal(got.length, 10002);
      assert.deepEqual(new Set(got), new Set(['.', '..', ...names]));
    });

    it('answers EIO for a readdir name the kernel would refuse', async function () {
      const b = box();
      const reported: string[] = [];
      const { ops } = passthrough(b.backing, { readdir: (_p, cb) => cb(0, ['.', '..', 'a/b']) });
      await mount(b, ops, { onHandlerError: (err) => reported.push(String(err)) });
      assert.match((await run('ls', [b.mnt])).stderr, /Input\/output error/);
      assert.match(reported.join('\n'), /invalid reply: expected an array of file names/);
    });

    it('sizes getxattr / listxattr replies right: ERANGE when small, then the exact value', async function () {
      const b = box();
      const value = Buffer.from('v'.repeat(300));
      const names = Array.from({ length: 40 }, (_, i) => `user.attribute-number-${i}`);
      const { ops } = passthrough(b.backing, {
        getxattr: (_p, name, _pos, cb) => (name === 'user.big' ? cb(0, value) : cb(-61)),
        listxattr: (_p, cb) => cb(0, names),
      });
      await mount(b, ops);
      const py = await run('python3', [
        '-c',
        'import os, sys; v = os.getxattr(sys.argv[1], "user.big"); print(len(v), v == b"v" * 300); print(sorted(os.listxattr(sys.argv[1])) == sorted(sys.argv[2:]))',
        path.join(b.mnt, 'hello'),
        ...names,
      ]);
      assert.equal(py.code, 0, py.stderr);
      assert.equal(py.stdout, '300 True\nTrue\n');
      const small = await run('python3', [
        '-c',
        'import ctypes, sys, errno; libc = ctypes.CDLL(None, use_errno=True); buf = ctypes.create_string_buffer(10);' +
          'r = libc.getxattr(sys.argv[1].encode(), b"user.big", buf, 10); print(r, errno.errorcode.get(ctypes.get_errno()))',
        path.join(b.mnt, 'hello'),
      ]);
      assert.equal(small.stdout, '-1 ERANGE\n');
    });

    it('reads and writes at offsets above 2^32', async function () {
      const b = box();
      const offset = 5 * 2 ** 30 + 3;
      const fd = fs.openSync(path.join(b.backing, 'sparse'), 'w');
      fs.writeSync(fd, 'tail data!', 0, 'utf8');
      fs.writeSync(fd, 'far data!!', offset, 'utf8');
      fs.closeSync(fd);
      const positions: number[] = [];
      const { ops } = passthrough(b.backing, {
        read: (_p, fd, buf, len, pos, cb) => {
          positions.push(pos);
          fs.read(fd, buf, 0, len, pos, (err, n) => cb(err ? -5 : n));
        },
      });
      await mount(b, ops, { directIo: true });
      const child = await node(
        `const fs = require('fs'); const fd = fs.openSync(process.argv[1], 'r+'); const buf = Buffer.alloc(10);` +
          `fs.readSync(fd, buf, 0, 10, ${offset}); fs.writeSync(fd, 'WRITTEN', ${offset + 20}); console.log(buf.toString());`,
        [path.join(b.mnt, 'sparse')],
      );
      assert.equal(child.code, 0, child.stderr);
      assert.equal(child.stdout, 'far data!!\n');
      assert.ok(positions.includes(offset), `read positions: ${positions}`);
      const check = Buffer.alloc(7);
      const bfd = fs.openSync(path.join(b.backing, 'sparse'), 'r');
      fs.readSync(bfd, check, 0, 7, offset + 20);
      fs.closeSync(bfd);
      assert.equal(check.toString(), 'WRITTEN');
    });

    it('passes fsync as (path, fd, datasync) as documented, and opendir its flags', async function () {
      const b = box();
      const syncs: [string, number, boolean][] = [];
      const opened: number[] = [];
      const opendirFlags: number[] = [];
      const { ops } = passthrough(b.backing, {
        open: (p, flags, cb) =>
          fs.open(path.join(b.backing, p), flags, (err, fd) => {
            opened.push(fd);
            cb(err ? -5 : 0, fd);
          }),
        fsync: (p, fd, datasync, cb) => {
          syncs.push([p, fd, datasync]);
          cb(0);
        },
        opendir: (_p, flags, cb) => {
          opendirFlags.push(flags);
          cb(0, 7);
        },
        releasedir: (_p, _fd, cb) => cb(0),
      });
      await mount(b, ops);
      const child = await node(
        `const fs = require('fs'); const fd = fs.openSync(process.argv[1], 'r+'); fs.fsyncSync(fd); fs.fdatasyncSync(fd); fs.readdirSync(process.argv[2]);`,
        [path.join(b.mnt, 'hello'), b.mnt],
      );
      assert.equal(child.code, 0, child.stderr);
      assert.equal(syncs.length, 2);
      assert.deepEqual(
        syncs.map(([p, , d]) => [p, d]),
        [
          ['/hello', false],
          ['/hello', true],
        ],
      );
      for (const [, fd] of syncs) assert.ok(opened.includes(fd));
      assert.ok(opendirFlags.length > 0);
      for (const flags of opendirFlags)
        assert.equal(flags & fs.constants.O_DIRECTORY, fs.constants.O_DIRECTORY);
    });
  });
});
