/**
 * Defect 6: mount options. 0 timeouts reach libfuse, the missing options exist and do what libfuse
 * says, extraOptions passes raw libfuse 2.9 options, and an option libfuse would refuse is a clear
 * error before anything is mounted.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  close,
  Fuse,
  fuseMountsUnder,
  mount,
  node,
  passthrough,
  run,
  waitFor,
  type Sandbox,
  eachSandbox,
} from './support';

const SAMPLE_VALUES: Record<string, string> = {
  fsname: 'iochaos-test',
  subtype: 'iochaos',
  max_read: '65536',
  max_write: '65536',
  max_readahead: '65536',
  max_background: '12',
  congestion_threshold: '9',
  umask: '022',
  uid: '0',
  gid: '0',
  entry_timeout: '1',
  negative_timeout: '1',
  attr_timeout: '1',
  ac_attr_timeout: '1',
  remember: '1',
  modules: 'subdir,subdir=/',
  intr_signal: '10',
  user: 'root',
};

describe('fuse-native: mount options (defect 6)', function () {
  const box = eachSandbox();

  function counting(b: Sandbox) {
    const getattrs: string[] = [];
    const reads: number[] = [];
    const writes: number[] = [];
    const pt = passthrough(b.backing, {
      getattr: (p, cb) => {
        getattrs.push(p);
        fs.lstat(path.join(b.backing, p), { bigint: true }, (e, st) => cb(e ? -2 : 0, st));
      },
      read: (_p, fd, buf, len, pos, cb) => {
        reads.push(len);
        fs.read(fd, buf, 0, len, pos, (e, n) => cb(e ? -5 : n));
      },
      write: (_p, fd, buf, len, pos, cb) => {
        writes.push(len);
        fs.write(fd, buf, 0, len, pos, (e, n) => cb(e ? -5 : n));
      },
    });
    return { ops: pt.ops, getattrs, reads, writes };
  }

  it('attrTimeout: 0 / entryTimeout: 0 reach libfuse: every stat asks the file system again', async function () {
    const b = box();
    const c = counting(b);
    await mount(b, c.ops, { attrTimeout: 0, entryTimeout: 0 });
    for (let i = 0; i < 3; i++) assert.equal((await run('stat', [path.join(b.mnt, 'hello')])).code, 0);
    assert.ok(c.getattrs.filter((p) => p === '/hello').length >= 3, c.getattrs.join(' '));
  });

  it('a long attrTimeout / entryTimeout is honoured too (the cache answers)', async function () {
    const b = box();
    const c = counting(b);
    await mount(b, c.ops, { attrTimeout: 600, entryTimeout: 600 });
    for (let i = 0; i < 3; i++) assert.equal((await run('stat', [path.join(b.mnt, 'hello')])).code, 0);
    assert.equal(c.getattrs.filter((p) => p === '/hello').length, 1, c.getattrs.join(' '));
  });

  it('directIo bypasses the page cache, and maxRead caps each read request', async function () {
    const b = box();
    fs.writeFileSync(path.join(b.backing, 'big'), Buffer.alloc(65536, 7));
    const c = counting(b);
    await mount(b, c.ops, { directIo: true, maxRead: 8192 });
    const child = await node(
      `const fs = require('fs'); for (let i = 0; i < 2; i++) { const fd = fs.openSync(process.argv[1], 'r'); const b = Buffer.alloc(65536); let n = 0, r; while ((r = fs.readSync(fd, b, n, 65536 - n, n)) > 0) n += r; fs.closeSync(fd); console.log(n); }`,
      [path.join(b.mnt, 'big')],
    );
    assert.equal(child.stdout, '65536\n65536\n', child.stderr);
    assert.ok(c.reads.length >= 16, `reads: ${c.reads}`);
    assert.ok(Math.max(...c.reads) <= 8192, `reads: ${c.reads}`);
  });

  it('without bigWrites writes come in pages; with bigWrites up to maxWrite', async function () {
    const b = box();
    const write = `require('fs').writeFileSync(process.argv[1], Buffer.alloc(262144, 1))`;
    const small = counting(b);
    const fuse = await mount(b, small.ops);
    assert.equal((await node(write, [path.join(b.mnt, 'w1')])).code, 0);
    await close(fuse);
    assert.ok(small.writes.length > 0 && Math.max(...small.writes) <= 4096, `writes: ${small.writes}`);

    const big = counting(b);
    await mount(b, big.ops, { bigWrites: true, maxWrite: 65536 });
    assert.equal((await node(write, [path.join(b.mnt, 'w2')])).code, 0);
    assert.ok(Math.max(...big.writes) > 4096 && Math.max(...big.writes) <= 65536, `writes: ${big.writes}`);
    assert.equal(fs.statSync(path.join(b.backing, 'w2')).size, 262144);
  });

  it('refuses a non-empty mountpoint unless nonempty is set', async function () {
    const b = box();
    fs.writeFileSync(path.join(b.mnt, 'already-here'), '');
    await assert.rejects(mount(b, passthrough(b.backing).ops), /mounting .* failed/);
    assert.deepEqual(fuseMountsUnder(b.base), []);
    await mount(b, passthrough(b.backing).ops, { nonempty: true });
    assert.deepEqual(fuseMountsUnder(b.base), [b.mnt]);
  });

  it('hardRemove unlinks an open file; without it libfuse hides it and close() removes it', async function () {
    const b = box();
    // Keeps the file open in a child (until `sleep` ends), waits for that open to reach us, removes it.
    const holdAndRemove = async (mnt: string, calls: Record<string, number>) => {
      const opens = calls.open ?? 0;
      const holder = run('sh', ['-c', `exec 3<${JSON.stringify(path.join(mnt, 'hello'))}; sleep 5`]);
      assert.ok(await waitFor(() => (calls.open ?? 0) > opens, 10_000), 'the holder opened the file');
      assert.equal((await run('rm', [path.join(mnt, 'hello')])).code, 0);
      return holder;
    };

    const hard = passthrough(b.backing);
    const f1 = await mount(b, hard.ops, { hardRemove: true });
    await holdAndRemove(b.mnt, hard.calls);
    assert.equal(hard.calls.rename, undefined);
    assert.ok((hard.calls.unlink ?? 0) >= 1);
    await close(f1);

    fs.writeFileSync(path.join(b.backing, 'hello'), 'again\n');
    const renamed: string[] = [];
    const soft = passthrough(b.backing, {
      rename: (from, to, cb) => {
        renamed.push(to);
        fs.rename(path.join(b.backing, from), path.join(b.backing, to), (e) => cb(e ? -5 : 0));
      },
    });
    const f2 = await mount(b, soft.ops);
    const holder = await holdAndRemove(b.mnt, soft.calls);
    assert.equal(renamed.length, 1);
    assert.match(renamed[0], /^\/\.fuse_hidden/, 'libfuse renamed the open file instead of unlinking it');
    // Closing while the file may still be held: libfuse then unlinks hidden files itself, from the
    // fuse thread with an empty context (2.2.6 dereferenced NULL there).
    await close(f2);
    await holder;
    assert.deepEqual(
      fs.readdirSync(b.backing).filter((n) => n.startsWith('.fuse_hidden')),
      [],
    );
  });

  it('every option that extraOptions accepts is accepted by the bundled libfuse 2.9', async function () {
    this.timeout(120_000);
    const b = box();
    const { flags, values } = Fuse.libfuseOptions;
    const options = [
      ...flags.filter((f) => f !== 'blkdev' && f !== 'debug').map((f) => [f]),
      ...values.map((v) => {
        assert.ok(SAMPLE_VALUES[v], `no sample value for ${v}`);
        return SAMPLE_VALUES[v].split(',').map((part, i) => (i === 0 ? `${v}=${part}` : part));
      }),
    ];
    for (const extraOptions of options) {
      if (extraOptions[0].startsWith('modules=')) continue; // needs subdir=, which is not a libfuse option
      const fuse = await mount(b, passthrough(b.backing).ops, { extraOptions }).catch((err: Error) => {
        throw new Error(`${extraOptions.join(',')}: ${err.message}`);
      });
      assert.deepEqual(fuseMountsUnder(b.base), [b.mnt], extraOptions.join(','));
      await close(fuse);
    }
  });

  it('throws a clear error for an option libfuse 2.9 refuses, before mounting anything', function () {
    const b = box();
    assert.throws(
      () => new Fuse(b.mnt, {}, { extraOptions: ['writeback_cache'] }),
      /libfuse 2\.9 does not accept the option "writeback_cache"/,
    );
    assert.throws(() => new Fuse(b.mnt, {}, { extraOptions: ['max_pages=256'] }), /does not accept/);
    assert.throws(() => new Fuse(b.mnt, {}, { autoUnmount: true } as never), /fusermount/);
    assert.throws(() => new Fuse(b.mnt, {}, { attrTimeout: -1 }), /attrTimeout has an invalid value/);
    assert.throws(() => new Fuse(b.mnt, {}, { blksize: 4096 }), /blksize only applies to blkdev/);
    assert.deepEqual(fuseMountsUnder(b.base), []);
  });

  it('passes an option value with a comma intact (fsname)', async function () {
    const b = box();
    await mount(b, passthrough(b.backing).ops, { fsname: 'a,b\\c', subtype: 'iochaos' });
    const line = fs
      .readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .find((l) => l.split(' ')[1] === b.mnt);
    assert.ok(line, 'mounted');
    assert.equal(line.split(' ')[0], 'a,b\\134c'); // /proc/mounts writes a backslash as \134
    assert.equal(line.split(' ')[2], 'fuse.iochaos');
  });
});
