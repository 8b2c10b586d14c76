/**
 * `attr`, `mistake`, `bandwidth` and `diskfull` end to end: the real `kubectl-iochaos`, a real daemon
 * and a real target app (already running, files held open). The app sees the fault on its volume;
 * after `recover` it sees its files as they were, not a byte of what it wrote before lost, and its
 * mount table is as before.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { requireRootAndFuse } from '../support/root';
import { testDaemon, type TestDaemon } from '../support/daemon';
import { startTarget, type Target } from '../support/target';
import { mounts } from '../support/mounts';

interface Stat {
  size: number;
  mode: number;
  ino: string;
  nlink: string;
  uid: string;
  gid: string;
  rdev: string;
  blocks: string;
  atimeNs: string;
  mtimeNs: string;
  ctimeNs: string;
}

describe('kubectl iochaos attr, mistake, bandwidth, diskfull: what the app sees, and nothing lost', function () {
  this.timeout(180_000);
  let d: TestDaemon;
  let t: Target;
  let pid: string;
  let mountsBefore: string[];
  /** What the app wrote before any fault: checked after every recover. */
  const kept = Array.from({ length: 2048 }, (_, i) => `line ${i} ${(i * 2654435761) % 4294967296}`).join(
    '\n',
  );

  const volumeMounts = () => t.mountTable().filter((l) => l.split(' ')[2].startsWith(t.volume));
  const ok = (r: { status: number | null; stdout: string; stderr: string }) => {
    assert.equal(r.status, 0, `exit 0, got ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const app = async (cmd: Record<string, unknown>) => {
    const r = await t.ask(cmd);
    assert.equal(r.ok, true, `${JSON.stringify(cmd).slice(0, 80)}: ${r.code}`);
    return r;
  };
  const read = async (file: string) => (await app({ op: 'read', file })).value as string;
  const stat = async (file: string) => (await app({ op: 'stat', file })).value as Stat;
  /** A file put on the volume from outside, as another container of the pod would. */
  const put = (file: string, text: string) =>
    fs.writeFileSync(`/proc/${t.pid}/root${t.volume}/${file}`, text);
  const inject = (...args: string[]) =>
    assert.match(ok(d.cli(args[0], pid, '--path', t.volume, ...args.slice(1))), /: injected /);

  /** Recover, then: the mount table is as before and what the app wrote before is all there. */
  const recoverAndCheck = async () => {
    ok(d.cli('recover', pid));
    assert.deepEqual(volumeMounts(), mountsBefore, "the target's mount table is as before");
    assert.equal(await read('keep.txt'), kept, 'the file written before the fault is intact');
    assert.equal((await app({ op: 'readHeld' })).value, 'held data', 'the file held open is intact');
    assert.equal(t.read(`${t.volume}/keep.txt`), kept, 'and so is the backing file');
  };

  before(async () => {
    requireRootAndFuse();
    d = testDaemon();
    await d.start();
    t = await startTarget();
    pid = `pid/${t.pid}`;
    await app({ op: 'write', file: 'keep.txt', data: kept });
    mountsBefore = volumeMounts();
  });
  afterEach(() => {
    if (volumeMounts().some((l) => l.includes('fuse.chaosfs'))) d.cli('recover', pid);
  });
  after(async () => {
    const left = d ? mounts().filter((m) => m.mountpoint.startsWith(d.dir)) : [];
    await t?.kill();
    await d?.cleanup();
    assert.deepEqual(left, [], 'no ChaosFS mount is left behind');
  });

  it('attr: the matching file shows every overridden attribute, the others their own; all back after recover', async () => {
    put('a.db', 'database');
    put('b.txt', 'text');
    const realA = await stat('a.db');
    const realB = await stat('b.txt');
    inject(
      'attr',
      '--files',
      '*.db',
      '--perm',
      '0444',
      '--size',
      '7',
      '--uid',
      '1234',
      '--gid',
      '4321',
      '--nlink',
      '9',
      '--blocks',
      '77',
      '--mtime',
      '2024-01-02T03:04:05.123456789Z',
      '--atime',
      '1700000000.5',
      '--ctime',
      '2001-09-09T03:46:40+02:00',
    );
    const a = await stat('a.db');
    assert.equal(a.mode, fs.constants.S_IFREG | 0o444, 'permission bits, kind kept');
    assert.equal(a.size, 7);
    assert.equal(a.uid, '1234');
    assert.equal(a.gid, '4321');
    assert.equal(a.nlink, '9');
    assert.equal(a.blocks, '77');
    assert.equal(a.mtimeNs, '1704164645123456789', 'RFC 3339, to the nanosecond');
    assert.equal(a.atimeNs, '1700000000500000000', 'unix seconds with a fraction');
    assert.equal(a.ctimeNs, '1000000000000000000', 'RFC 3339 with an offset');
    assert.deepEqual(await stat('b.txt'), realB, 'a file --files does not match keeps its attributes');
    assert.equal(await read('a.db'), 'database', 'the data is not touched');

    await recoverAndCheck();
    const after = await stat('a.db');
    assert.deepEqual({ ...after, atimeNs: realA.atimeNs }, realA, 'the real attributes are back');
  });

  it('mistake: reads of the matching file return a few zeroed bytes, writes store a few wrong ones; none after recover', async () => {
    const text = 'a'.repeat(4096);
    put('m.txt', text);
    inject(
      'mistake',
      '--files',
      'm.txt',
      '--methods',
      'read',
      '--filling',
      'zero',
      '--max-occurrences',
      '3',
      '--max-length',
      '5',
    );
    for (let i = 0; i < 10; i++) {
      const got = await read('m.txt');
      assert.equal(got.length, text.length, 'a corrupted read is as long as the file');
      const zeroed = [...got].filter((c) => c === '\0').length;
      assert.ok(zeroed >= 1 && zeroed <= 3 * 5, `1 to 15 bytes zeroed, got ${zeroed}`);
      assert.equal(got.replace(/\0/g, ''), 'a'.repeat(text.length - zeroed), 'every other byte is right');
    }
    assert.equal(await read('keep.txt'), kept, 'another file reads right');
    assert.equal(t.read(`${t.volume}/m.txt`).length, text.length);
    ok(d.cli('recover', pid));

    inject('mistake', '--files', 'w.txt', '--methods', 'write', '--max-length', '4');
    await app({ op: 'write', file: 'w.txt', data: 'b'.repeat(4096) });
    await recoverAndCheck();
    assert.equal(await read('m.txt'), text, 'the read corruption never reached the file');
    const stored = await read('w.txt');
    const wrong = [...stored].filter((c) => c !== 'b').length;
    assert.ok(wrong >= 1 && wrong <= 4, `the write stored 1 to 4 wrong bytes, got ${wrong}`);
  });

  it('bandwidth: reads and writes of the matching file move at about the rate; full speed after recover', async () => {
    const size = 512 * 1024;
    put('r.bin', 'r'.repeat(size));
    const free = (await app({ op: 'read', file: 'r.bin' })).ms;
    inject('bandwidth', '--files', '*.bin', '--rate', '128KiB');
    const slow = await app({ op: 'read', file: 'r.bin' });
    assert.equal((slow.value as string).length, size, 'every byte arrives');
    // 512 KiB at 128 KiB/s is 4 s; the bounds are loose on purpose (a loaded machine only adds time).
    assert.ok(slow.ms >= 3000 && slow.ms < 40_000, `a 512 KiB read took ${slow.ms} ms, about 4 s`);
    const write = await app({ op: 'write', file: 'w.bin', data: 'w'.repeat(size / 2) });
    assert.ok(write.ms >= 1500 && write.ms < 40_000, `a 256 KiB write took ${write.ms} ms, about 2 s`);
    const other = await app({ op: 'read', file: 'keep.txt' });
    assert.ok(other.ms < slow.ms / 4, `a file --files does not match is not capped (${other.ms} ms)`);

    await recoverAndCheck();
    const fast = await app({ op: 'read', file: 'r.bin' });
    assert.ok(fast.ms < slow.ms / 4, `after recover: ${fast.ms} ms (before the fault ${free} ms)`);
    assert.equal(t.read(`${t.volume}/w.bin`), 'w'.repeat(size / 2), 'the capped write stored every byte');
  });

  it('diskfull: the app gets ENOSPC once it has grown the volume by the limit; all it wrote is kept', async () => {
    const line = 'x'.repeat(1023); // 1 KiB with the newline `append` adds
    const logBefore = t.read(`${t.volume}/log.txt`);
    inject('diskfull', '--limit', '64KiB', '--methods', 'write');
    let accepted = 0;
    let refused: string | undefined;
    for (let i = 0; i < 100 && !refused; i++) {
      const r = await t.ask({ op: 'append', data: line });
      if (r.ok) accepted++;
      else refused = r.code;
    }
    assert.equal(refused, 'ENOSPC', 'the held log file hits a full disk');
    assert.equal(accepted, 64, 'exactly 64 KiB of 1 KiB appends fit in 64 KiB');
    const small = await t.ask({ op: 'write', file: 'new.txt', data: 'more' });
    assert.equal(small.code, 'ENOSPC', 'a new file cannot grow either');

    await recoverAndCheck();
    assert.equal(
      t.read(`${t.volume}/log.txt`),
      logBefore + `${line}\n`.repeat(accepted),
      'every append that succeeded is in the file, once, in order',
    );
    await app({ op: 'append', data: 'after' });
    await app({ op: 'write', file: 'new.txt', data: 'more' });
    assert.equal(await read('new.txt'), 'more', 'the disk takes writes again');
  });
});
