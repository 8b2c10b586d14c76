/**
 * Fault kinds and operations that faults.test.ts does not reach: latency jitter, diskFull on new names
 * and on growth by truncate, bandwidth on writes and shared by concurrent callers, attrOverride of the
 * remaining attributes, and errnos on directory and name operations. Black-box: a real mount, real
 * callers, and the backing directory checked for what did (not) happen.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RuleInput } from '../../sidecar/api/fault-spec';
import { requireRootAndFuse } from '../support/root';
import { startChaosFs, type ChaosFsProcess } from '../support/chaosfs-process';

/** Runs a tiny Node program in a child process (never in the process that could serve the mount). */
function node<T>(code: string, ...args: string[]): T {
  const r = spawnSync(process.execPath, ['-e', code, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A program writing `bytes` zeros to argv[1] in one write, printing how long it took. */
const TIMED_WRITE = (bytes: number) =>
  `const fs=require('fs');const b=Buffer.alloc(${bytes});const fd=fs.openSync(process.argv[1],'w');
   const s=Date.now();fs.writeSync(fd,b);console.log(JSON.stringify({ms:Date.now()-s}))`;

describe('ChaosFS faults on the remaining kinds and operations', () => {
  let c: ChaosFsProcess;
  const m = (...p: string[]) => path.join(c.mnt, ...p);
  const s = (...p: string[]) => path.join(c.src, ...p);
  const set = async (rules: RuleInput[]) => {
    const reply = await c.setRules(rules, true);
    assert.ok(reply.ok, JSON.stringify(reply));
  };

  before(async () => {
    requireRootAndFuse();
    c = await startChaosFs();
  });
  afterEach(async () => c && (await c.clearRules()));
  after(async () => c?.cleanup());

  it('latency: jitter spreads the delays within delay ± jitter', async () => {
    fs.writeFileSync(s('jitter.txt'), 'j');
    await set([
      { action: 'latency', delay: '200ms', jitter: '150ms', methods: ['read'], path: 'jitter.txt' },
    ]);
    const times = node<number[]>(
      `const fs=require('fs');const b=Buffer.alloc(16);const fd=fs.openSync(process.argv[1],'r');const t=[];
       for(let i=0;i<16;i++){const s=process.hrtime.bigint();fs.readSync(fd,b,0,16,0);t.push(Number(process.hrtime.bigint()-s)/1e6)}
       console.log(JSON.stringify(t))`,
      m('jitter.txt'),
    );
    const min = Math.min(...times);
    const max = Math.max(...times);
    // Uniform over 50..350 ms: 16 draws spread far wider than scheduling noise around a fixed 200 ms.
    assert.ok(min >= 49, `no read was delayed less than delay - jitter (min ${min} ms)`);
    assert.ok(max - min >= 120, `the delays spread (${min.toFixed(0)}..${max.toFixed(0)} ms)`);
    assert.ok(
      times.some((t) => t < 190) && times.some((t) => t > 210),
      `some delays below and some above 200 ms: ${times.map((t) => t.toFixed(0)).join(' ')}`,
    );
  });

  it('diskFull: once the limit is used up, create, mkdir and mknod get ENOSPC and make nothing', async () => {
    await set([{ action: 'diskFull', limit: 4096 }]);
    fs.writeFileSync(m('filler.dat'), Buffer.alloc(4096));
    assert.throws(() => fs.writeFileSync(m('new.dat'), 'x'), { code: 'ENOSPC' });
    assert.throws(() => fs.mkdirSync(m('newdir')), { code: 'ENOSPC' });
    const fifo = spawnSync('mkfifo', [m('newfifo')], { encoding: 'utf8' });
    assert.notEqual(fifo.status, 0);
    assert.match(fifo.stderr, /No space left on device/);
    for (const name of ['new.dat', 'newdir', 'newfifo'])
      assert.equal(fs.existsSync(s(name)), false, `${name} was not made on the backing`);
    // Before the limit is used up, new names are fine.
    await set([{ action: 'diskFull', limit: 4096 }]);
    fs.mkdirSync(m('okdir'));
    assert.ok(fs.statSync(s('okdir')).isDirectory());
  });

  it('diskFull: growth by truncate and ftruncate counts, and past the limit gets ENOSPC', async () => {
    fs.writeFileSync(s('grow.dat'), Buffer.alloc(1000));
    await set([{ action: 'diskFull', limit: 10_000 }]);
    assert.throws(() => fs.truncateSync(m('grow.dat'), 20_000), { code: 'ENOSPC' });
    assert.equal(fs.statSync(s('grow.dat')).size, 1000, 'the refused truncate did not grow the file');
    fs.truncateSync(m('grow.dat'), 7000); // grows by 6000 of the 10000
    assert.equal(fs.statSync(s('grow.dat')).size, 7000);
    const st = fs.statfsSync(m('.'));
    assert.ok(st.bavail * st.bsize <= 4000, `df shows at most the 4000 bytes left (${st.bavail * st.bsize})`);
    // 6000 more bytes past the end would make 12000: refused, because the truncate counted.
    const fd = fs.openSync(m('grow.dat'), 'r+');
    try {
      assert.throws(() => fs.writeSync(fd, Buffer.alloc(6000), 0, 6000, 7000), { code: 'ENOSPC' });
      assert.throws(() => fs.ftruncateSync(fd, 13_000), { code: 'ENOSPC' });
      fs.ftruncateSync(fd, 10_000); // 3000 more: 9000 in all
      assert.equal(fs.statSync(s('grow.dat')).size, 10_000);
      assert.throws(() => fs.ftruncateSync(fd, 11_500), { code: 'ENOSPC' });
      fs.ftruncateSync(fd, 100); // shrinking is always allowed
    } finally {
      fs.closeSync(fd);
    }
    assert.equal(fs.statSync(s('grow.dat')).size, 100);
  });

  it('bandwidth: caps writes, and concurrent writers share one cap', async () => {
    await set([{ action: 'bandwidth', rate: '1MiB', methods: ['write'] }]);
    const one = node<{ ms: number }>(TIMED_WRITE(512 * 1024), m('bw-one.dat'));
    assert.ok(one.ms >= 400, `512 KiB at 1 MiB/s took ${one.ms} ms`);
    assert.equal(fs.statSync(s('bw-one.dat')).size, 512 * 1024);

    // Four writes of 256 KiB at once (libuv's four threads, so four FUSE requests in flight): 1 MiB
    // in all through one 1 MiB/s cap takes about a second; a cap per caller would take a quarter.
    const all = node<{ ms: number }>(
      `const fs=require('fs/promises');const b=Buffer.alloc(256*1024);
       (async()=>{const fds=await Promise.all([0,1,2,3].map(i=>fs.open(process.argv[1]+i+'.dat','w')));
       const s=Date.now();await Promise.all(fds.map(f=>f.write(b,0,b.length,0)));
       console.log(JSON.stringify({ms:Date.now()-s}))})()`,
      m('bw-'),
    ).ms;
    assert.ok(all >= 800, `1 MiB from four writers at 1 MiB/s shared took ${all} ms`);
    for (const i of [0, 1, 2, 3]) assert.equal(fs.statSync(s(`bw-${i}.dat`)).size, 256 * 1024);
  });

  it('attrOverride: kind, gid, rdev, atime and ctime as stat shows them', async () => {
    fs.writeFileSync(s('dev.txt'), 'not a device');
    // A name the kernel has not looked up yet: a cached inode cannot change its kind.
    await set([
      {
        action: 'attrOverride',
        path: 'dev.txt',
        attr: {
          kind: 'blockDevice',
          gid: 4343,
          rdev: 0x0801,
          atime: { sec: 1_600_000_000, nsec: 7 },
          ctime: { sec: 1_500_000_000, nsec: 9 },
        },
      },
    ]);
    const st = fs.statSync(m('dev.txt'), { bigint: true });
    assert.ok(st.isBlockDevice(), `stat shows a block device (mode ${st.mode.toString(8)})`);
    assert.equal(st.gid, 4343n);
    assert.equal(st.rdev, 0x0801n);
    assert.equal(st.atimeNs, 1_600_000_000_000_000_007n);
    assert.equal(st.ctimeNs, 1_500_000_000_000_000_009n);
    const real = fs.statSync(s('dev.txt'));
    assert.ok(real.isFile() && real.gid === 0, 'the backing keeps its own attributes');
  });

  it('fault on readdir: ls gets the errno', async () => {
    fs.mkdirSync(s('listed'));
    fs.writeFileSync(s('listed/a'), 'a');
    await set([{ action: 'fault', errno: 'EIO', methods: ['readdir'], path: 'listed' }]);
    assert.throws(() => fs.readdirSync(m('listed')), { code: 'EIO' });
    await c.clearRules();
    assert.deepEqual(fs.readdirSync(m('listed')), ['a']);
  });

  it('fault on mkdir, unlink and rename: the caller gets the errno and the backing is unchanged', async () => {
    fs.writeFileSync(s('keep.txt'), 'keep');
    fs.writeFileSync(s('stay.txt'), 'stay');
    await set([
      { action: 'fault', errno: 'EROFS', methods: ['mkdir'] },
      { action: 'fault', errno: 'EPERM', methods: ['unlink'] },
      { action: 'fault', errno: 'EXDEV', methods: ['rename'] },
    ]);
    assert.throws(() => fs.mkdirSync(m('made')), { code: 'EROFS' });
    assert.equal(fs.existsSync(s('made')), false, 'no directory was made');
    assert.throws(() => fs.unlinkSync(m('keep.txt')), { code: 'EPERM' });
    assert.equal(fs.readFileSync(s('keep.txt'), 'utf8'), 'keep', 'the file was not unlinked');
    assert.throws(() => fs.renameSync(m('stay.txt'), m('moved.txt')), { code: 'EXDEV' });
    assert.ok(fs.existsSync(s('stay.txt')) && !fs.existsSync(s('moved.txt')), 'nothing was renamed');
    // The same calls go through once the rules are off.
    await c.clearRules();
    fs.mkdirSync(m('made'));
    fs.renameSync(m('stay.txt'), m('moved.txt'));
    fs.unlinkSync(m('keep.txt'));
    assert.ok(fs.existsSync(s('made')) && fs.existsSync(s('moved.txt')) && !fs.existsSync(s('keep.txt')));
  });
});
