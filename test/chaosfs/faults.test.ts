/**
 * Each fault kind and filter, seen by real processes on a real ChaosFS mount, with rules changed over
 * the control socket while mounted.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RuleInput } from '../../sidecar/api/fault-spec';
import { requireRootAndFuse } from '../support/root';
import { startChaosFs, type ChaosFsProcess } from '../support/chaosfs-process';
import { untilInjected } from '../support/rule-counters';

/** Runs a tiny Node program in a child process (never in the process that could serve the mount). */
function node(code: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['-e', code, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, number>;
}

/** Times `count` reads of `file` in a child process: mean and min in ms. */
function timeReads(file: string, count: number) {
  return node(
    `const fs=require('fs');const b=Buffer.alloc(4096);const fd=fs.openSync(process.argv[1],'r');const t=[];
     for(let i=0;i<${count};i++){const s=process.hrtime.bigint();fs.readSync(fd,b,0,4096,0);t.push(Number(process.hrtime.bigint()-s)/1e6)}
     console.log(JSON.stringify({mean:t.reduce((a,b)=>a+b)/t.length,min:Math.min(...t)}))`,
    file,
  );
}

describe('ChaosFS fault kinds', () => {
  let c: ChaosFsProcess;
  const m = (...p: string[]) => path.join(c.mnt, ...p);
  const set = async (rules: RuleInput[]) => {
    const reply = await c.setRules(rules, true);
    assert.ok(reply.ok, JSON.stringify(reply));
  };

  before(async () => {
    requireRootAndFuse();
    c = await startChaosFs({ rules: [{ action: 'fault', errno: 'EIO', methods: ['read'], path: '*.bin' }] });
    fs.writeFileSync(path.join(c.src, 'data.bin'), 'binary');
    fs.writeFileSync(path.join(c.src, 'notes.txt'), 'text');
    fs.mkdirSync(path.join(c.src, 'deep/er'), { recursive: true });
    fs.writeFileSync(path.join(c.src, 'deep/er/x.bin'), 'deep');
  });
  afterEach(async () => c && (await c.clearRules()));
  after(async () => c?.cleanup());

  it('fault: cat gets EIO on matching files only, from the --rules file', () => {
    const r = spawnSync('cat', [m('data.bin')], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Input\/output error/);
    assert.equal(spawnSync('cat', [m('notes.txt')], { encoding: 'utf8' }).stdout, 'text');
    // `*` does not cross `/`.
    assert.equal(spawnSync('cat', [m('deep/er/x.bin')], { encoding: 'utf8' }).stdout, 'deep');
  });

  it('fault: `**` crosses directories, and errno can be a number or a weighted list', async () => {
    await set([
      { action: 'fault', faults: [{ errno: 'ENOSPC', weight: 1 }], methods: ['write'], path: '**/*.bin' },
    ]);
    assert.throws(() => fs.writeFileSync(m('deep/er/x.bin'), 'no'), { code: 'ENOSPC' });
    await set([{ action: 'fault', errno: 13, methods: ['open'] }]);
    assert.throws(() => fs.readFileSync(m('notes.txt')), { code: 'EACCES' });
  });

  it('latency: the delay is observed, and clearing the rule ends it', async () => {
    const before = timeReads(m('notes.txt'), 5);
    await set([{ action: 'latency', delay: '150ms', methods: ['read'] }]);
    const delayed = timeReads(m('notes.txt'), 5);
    assert.ok(delayed.min >= 150, `every read took at least the delay (min ${delayed.min} ms)`);
    await c.clearRules();
    const after = timeReads(m('notes.txt'), 5);
    assert.ok(
      after.min < 150,
      `after clearing, reads are not delayed (min ${after.min}, before ${before.min})`,
    );
  });

  it('latency: clearing a rule cuts the delays in flight short', async () => {
    await set([{ action: 'latency', delay: '30s', methods: ['read'] }]);
    const child = spawn('cat', [m('notes.txt')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const reading = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await untilInjected(c.socket); // the read is in its 30 s delay
    const cleared = Date.now();
    await c.clearRules();
    assert.equal(await reading, 0, 'the delayed read completed once the rule was cleared');
    const after = Date.now() - cleared;
    // Not the rest of the 30 s: a loose bound, far above a loaded machine's scheduling noise.
    assert.ok(after < 5000, `the read ended ${after} ms after the clear, not at the end of its 30 s delay`);
    assert.equal(out, 'text');
  });

  it('attrOverride: stat shows the overridden attributes, the backing keeps its own', async () => {
    await set([
      {
        action: 'attrOverride',
        path: 'notes.txt',
        attr: {
          size: 12345,
          perm: 0o600,
          uid: 4242,
          nlink: 7,
          ino: 2 ** 40 + 5,
          mtime: { sec: 1e9, nsec: 5 },
        },
      },
    ]);
    const st = fs.statSync(m('notes.txt'), { bigint: true });
    assert.equal(st.size, 12345n);
    assert.equal(st.mode & 0o7777n, 0o600n);
    assert.equal(st.uid, 4242n);
    assert.equal(st.nlink, 7n);
    assert.equal(st.ino, 2n ** 40n + 5n);
    assert.equal(st.mtimeNs, 1_000_000_000_000_000_005n);
    assert.equal(fs.statSync(path.join(c.src, 'notes.txt')).size, 4);
  });

  it('attrOverride: a smaller size changes what stat says, not what a read returns', async () => {
    // The kernel cuts cached reads at the size it was told; the file is opened direct_io instead.
    fs.writeFileSync(path.join(c.src, 'long.txt'), 'the whole text');
    await set([{ action: 'attrOverride', path: 'long.txt', attr: { size: 3 } }]);
    const r = spawnSync('sh', ['-c', `stat -c %s ${m('long.txt')} && cat ${m('long.txt')}`], {
      encoding: 'utf8',
    });
    assert.equal(r.stdout, '3\nthe whole text', r.stderr);
  });

  it('mistake: read corruption stays within maxOccurrences x maxLength, and the backing is intact', async () => {
    const data = crypto.randomBytes(64 * 1024);
    fs.writeFileSync(path.join(c.src, 'm.dat'), data);
    await set([
      {
        action: 'mistake',
        methods: ['read'],
        mistake: { filling: 'random', maxOccurrences: 3, maxLength: 5 },
      },
    ]);
    let corrupted = 0;
    for (let i = 0; i < 5; i++) {
      const got = fs.readFileSync(m('m.dat'));
      assert.equal(got.length, data.length);
      const diff: number[] = [];
      for (let j = 0; j < got.length; j++) if (got[j] !== data[j]) diff.push(j);
      // Each read reply (up to 128 KiB here, so one) gets at most 3 runs of at most 5 bytes.
      assert.ok(diff.length <= 15, `${diff.length} bytes differ`);
      if (diff.length > 0) corrupted++;
    }
    assert.equal(corrupted, 5, 'every read was corrupted');
    assert.ok(fs.readFileSync(path.join(c.src, 'm.dat')).equals(data), 'the backing is untouched');
  });

  it('mistake: written data is corrupted in the backing with zeros', async () => {
    await set([
      {
        action: 'mistake',
        methods: ['write'],
        mistake: { filling: 'zero', maxOccurrences: 1, maxLength: 4 },
      },
    ]);
    fs.writeFileSync(m('w.dat'), Buffer.alloc(1000, 0xff));
    const stored = fs.readFileSync(path.join(c.src, 'w.dat'));
    const zeros = stored.filter((b) => b === 0).length;
    assert.ok(zeros >= 1 && zeros <= 4, `${zeros} zeroed bytes`);
  });

  it('bandwidth: a cap of 2 MiB/s makes reading 1 MiB take about half a second or more', async () => {
    fs.writeFileSync(path.join(c.src, 'bw.dat'), crypto.randomBytes(1024 * 1024));
    await set([{ action: 'bandwidth', rate: '2MiB', methods: ['read'] }]);
    const r = node(
      `const s=Date.now();require('fs').readFileSync(process.argv[1]);console.log(JSON.stringify({ms:Date.now()-s}))`,
      m('bw.dat'),
    );
    assert.ok(r.ms >= 400, `1 MiB at 2 MiB/s took ${r.ms} ms`);
  });

  it('diskFull: ENOSPC once the volume has grown by the limit', async () => {
    await set([{ action: 'diskFull', limit: 10_000 }]);
    const fd = fs.openSync(m('full.dat'), 'w');
    fs.writeSync(fd, Buffer.alloc(6000));
    assert.throws(() => fs.writeSync(fd, Buffer.alloc(6000)), { code: 'ENOSPC' });
    // Overwriting in place does not grow the volume.
    fs.writeSync(fd, Buffer.alloc(6000), 0, 6000, 0);
    fs.closeSync(fd);
  });

  it('percent: roughly respected over many calls with a fixed seed, and reproducible', async () => {
    const count = async () => {
      await set([
        { action: 'fault', errno: 'EIO', methods: ['getattr'], path: 'notes.txt', percent: 30, seed: 7 },
      ]);
      return node(
        `const fs=require('fs');let n=0;for(let i=0;i<1000;i++){try{fs.statSync(process.argv[1])}catch{n++}}console.log(JSON.stringify({n}))`,
        m('notes.txt'),
      ).n;
    };
    const first = await count();
    assert.ok(first > 220 && first < 380, `${first} of 1000 failed at 30%`);
    assert.equal(await count(), first, 'the same seed gives the same choices');
  });

  it('times: only the first N matching calls are faulted', async () => {
    await set([{ action: 'fault', errno: 'EIO', methods: ['read'], path: 'notes.txt', times: 3 }]);
    const results = Array.from({ length: 5 }, () => spawnSync('cat', [m('notes.txt')]).status);
    assert.deepEqual(results, [1, 1, 1, 0, 0]);
  });

  it('refuses bad rules over the control socket, naming the field, and keeps serving', async () => {
    const reply = await c.setRules([{ action: 'latency', delay: '5ms', percent: 130 } as RuleInput]);
    assert.equal(reply.ok, false);
    assert.match(JSON.stringify(reply), /percent/);
    const bad = await c.setRules([{ action: 'fault', errno: 'EWHAT' } as RuleInput]);
    assert.match(JSON.stringify(bad), /unknown errno/);
    assert.equal(fs.readFileSync(m('notes.txt'), 'utf8'), 'text');
  });
});
