/**
 * Real workloads on ChaosFS: a SQLite database stays consistent, in WAL mode too (its -shm file is
 * mapped MAP_SHARED, which the old libfuse 2.9 mount refused with ENODEV); a shared mapping is written
 * and read under a rule; delays on 16 concurrent readers do not serialize; a delayed write whose
 * server is killed did not happen; SIGTERM with I/O in flight unmounts cleanly.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requireRootAndFuse } from '../support/root';
import { startChaosFs, type ChaosFsProcess } from '../support/chaosfs-process';
import { isMounted } from '../support/mounts';
import { untilInjected } from '../support/rule-counters';
import { request } from '../../sidecar/control/client';

describe('ChaosFS workloads', () => {
  let c: ChaosFsProcess | undefined;
  beforeEach(() => requireRootAndFuse());
  afterEach(async () => {
    await c?.cleanup();
    c = undefined;
  });

  it('runs a SQLite workload with no rule, and PRAGMA integrity_check passes', async () => {
    c = await startChaosFs();
    const sql = [
      'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, n INTEGER);',
      'CREATE INDEX t_n ON t(n);',
      ...Array.from({ length: 20 }, (_, b) => {
        const rows = Array.from(
          { length: 250 },
          (_, i) => `(${b * 250 + i}, hex(randomblob(64)), ${i % 17})`,
        );
        return `BEGIN; INSERT INTO t VALUES ${rows.join(',')}; COMMIT;`;
      }),
      'UPDATE t SET v = v || v WHERE n = 3;',
      'DELETE FROM t WHERE n = 5;',
      'VACUUM;',
      'PRAGMA integrity_check;',
      'SELECT count(*) FROM t;',
    ].join('\n');
    const r = spawnSync('sqlite3', [path.join(c.mnt, 'db.sqlite')], { input: sql, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.trim().split('\n');
    // 20 batches of 250 rows; in each, 15 rows have n = 5 (i = 5, 22, ..., 243) and are deleted.
    assert.deepEqual(out, ['ok', String(20 * 250 - 20 * 15)]);
    // The same database, read straight from the backing, is intact too.
    const direct = spawnSync('sqlite3', [path.join(c.src, 'db.sqlite'), 'PRAGMA integrity_check;'], {
      encoding: 'utf8',
    });
    assert.equal(direct.stdout.trim(), 'ok');
  });

  async function firstRule(socket: string): Promise<{ injected: number }> {
    const list = await request<{ rules: Array<{ injected: number }> }>(socket, { op: 'rules.list' });
    assert.ok(list.ok, JSON.stringify(list));
    return list.result.rules[0];
  }

  /** A WAL database written by one sqlite3 while a second reads it; both answers, and the mode. */
  async function walWorkload(mnt: string): Promise<void> {
    const db = path.join(mnt, 'wal.sqlite');
    const setup = spawnSync('sqlite3', [db], {
      input: 'PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);',
      encoding: 'utf8',
    });
    assert.equal(setup.status, 0, setup.stderr);
    assert.equal(setup.stdout.trim(), 'wal');
    // A reader holds a read transaction open (its snapshot in the mapped -shm) while a writer commits.
    const reader = spawn('sqlite3', [db], { stdio: ['pipe', 'pipe', 'pipe'] });
    const snapshot = new Promise<string>((resolve) =>
      reader.stdout.once('data', (d: Buffer) => resolve(String(d))),
    );
    reader.stdin.write('BEGIN; SELECT count(*) FROM t;\n');
    assert.equal((await snapshot).trim(), '0', 'the reader is in its read transaction');
    const rows = Array.from({ length: 200 }, (_, i) => `(${i}, hex(randomblob(32)))`).join(',');
    const write = spawnSync('sqlite3', [db], {
      input: `BEGIN; INSERT INTO t VALUES ${rows}; COMMIT; PRAGMA wal_checkpoint(PASSIVE); SELECT count(*) FROM t;`,
      encoding: 'utf8',
    });
    assert.equal(write.status, 0, write.stderr);
    assert.match(write.stdout, /200\s*$/);
    const read = spawnSync('sqlite3', [db, 'PRAGMA integrity_check; SELECT count(*) FROM t;'], {
      encoding: 'utf8',
    });
    assert.equal(read.status, 0, read.stderr);
    assert.deepEqual(read.stdout.trim().split('\n'), ['ok', '200']);
    // While the reader is open, the shared-memory file it mapped is there (the last close removes it).
    assert.ok(fs.existsSync(`${db}-shm`), 'the shared-memory file was made (and mapped)');
    const readerDone = new Promise((resolve) => reader.on('exit', resolve));
    reader.stdin.end('COMMIT;\n');
    assert.equal(await readerDone, 0, 'the reader ended its transaction and exited');
  }

  it('runs SQLite in WAL mode (its -shm is mapped MAP_SHARED), with no rule', async () => {
    c = await startChaosFs();
    await walWorkload(c.mnt);
  });

  it('runs SQLite in WAL mode under a delay rule on every read and write', async () => {
    c = await startChaosFs({ rules: [{ action: 'latency', delay: '1ms', methods: ['read', 'write'] }] });
    await walWorkload(c.mnt);
    const status = await firstRule(c.socket);
    assert.ok(status.injected > 0, `the delay fired (${JSON.stringify(status)})`);
  });

  it('writes and reads a MAP_SHARED mapping under a rule that shows the reads and writes to JS', async () => {
    // Jitter keeps the rule in JS, so the file is opened direct_io; the mapping must work anyway.
    c = await startChaosFs({
      rules: [{ action: 'latency', delay: '1ms', jitter: '1ms', methods: ['read', 'write'], path: 'm.dat' }],
    });
    fs.writeFileSync(path.join(c.src, 'm.dat'), Buffer.alloc(3 * 4096, 0x61));
    const py = `
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 3 * 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
m[4096:4101] = b'HELLO'
m.flush()
print(m[4096:4101].decode(), os.pread(fd, 5, 4096).decode(), m[0:1].decode())
m.close()
os.close(fd)
`;
    const r = spawnSync('python3', ['-c', py, path.join(c.mnt, 'm.dat')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'HELLO HELLO a');
    const backing = fs.readFileSync(path.join(c.src, 'm.dat'));
    assert.equal(backing.subarray(4096, 4101).toString(), 'HELLO', 'the mapped write reached the backing');
    assert.equal(backing.length, 3 * 4096);
    const status = await firstRule(c.socket);
    assert.ok(status.injected > 0, `page faults and writeback reached the rule (${JSON.stringify(status)})`);
  });

  it('does not serialize delays: 16 readers, 50% of reads delayed 10 ms, add about 5 ms each on average', async () => {
    c = await startChaosFs();
    fs.writeFileSync(path.join(c.src, 'r.dat'), Buffer.alloc(4096, 1));
    // 16 concurrent readers in one child process, each timing its own reads.
    const program = `
      const fs = require('fs');
      const file = process.argv[1];
      async function reader() {
        const fh = await fs.promises.open(file, 'r');
        const buf = Buffer.alloc(4096);
        const times = [];
        for (let i = 0; i < 40; i++) {
          const s = process.hrtime.bigint();
          await fh.read(buf, 0, 4096, 0);
          times.push(Number(process.hrtime.bigint() - s) / 1e6);
        }
        await fh.close();
        return times;
      }
      Promise.all(Array.from({ length: 16 }, reader)).then((all) => {
        const t = all.flat();
        console.log(JSON.stringify({ mean: t.reduce((a, b) => a + b) / t.length, n: t.length }));
      });`;
    const run = () => {
      const r = spawnSync(process.execPath, ['-e', program, path.join(c!.mnt, 'r.dat')], {
        encoding: 'utf8',
        env: { ...process.env, UV_THREADPOOL_SIZE: '32' },
      });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { mean: number; n: number };
    };
    const base = run();
    const reply = await c.setRules([
      { action: 'latency', delay: '10ms', percent: 50, methods: ['read'], seed: 1 },
    ]);
    assert.ok(reply.ok);
    const delayed = run();
    const added = delayed.mean - base.mean;
    // Concurrent delays add about 5 ms per read. Serialized ones would add about 16 x 5 = 80 ms (the 16
    // readers queueing behind each other's delays): 25 ms tells the two apart with room for a busy box.
    assert.ok(added > 2.5, `the delay was applied (added ${added.toFixed(2)} ms)`);
    assert.ok(added < 25, `mean added delay ${added.toFixed(2)} ms: the delays did not serialize`);
  });

  it('a write in its delay when ChaosFS is SIGKILLed has not happened: the writer is told it failed, the backing file is as before', async () => {
    // A sidecar OOM-killed mid-delay. Were the write served first and only its reply held, the app
    // would be told it failed while the bytes are on the volume, and write them again on retry.
    c = await startChaosFs({ rules: [{ action: 'latency', delay: '30s', methods: ['write'] }] });
    fs.writeFileSync(path.join(c.src, 'records'), 'record 0\n');
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `const fs=require('fs');const fd=fs.openSync(process.argv[1],'a');try{fs.writeSync(fd,'record 1\\n');process.stdout.write('ok')}catch(e){process.stdout.write(e.code)}`,
        path.join(c.mnt, 'records'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    writer.stdout.on('data', (d) => (out += d));
    const writerExit = new Promise<number | null>((resolve) => writer.on('exit', resolve));
    await untilInjected(c.socket); // the write is in its 30 s delay
    c.child.kill('SIGKILL');
    assert.equal(await writerExit, 0);
    assert.match(out, /^(ENOTCONN|ECONNABORTED)$/, 'the write failed when its server died');
    assert.equal(fs.readFileSync(path.join(c.src, 'records'), 'utf8'), 'record 0\n', 'and did not happen');
  });

  it('unmounts cleanly on SIGTERM with I/O in flight, and exits 0', async () => {
    c = await startChaosFs({ rules: [{ action: 'latency', delay: '30s', methods: ['read'] }] });
    fs.writeFileSync(path.join(c.src, 'slow'), 'slow data');
    // One read, then exit: only the read in flight at SIGTERM is judged, not a later one on the dead mount.
    const reader = spawn(
      process.execPath,
      [
        '-e',
        `const fs=require('fs');const b=Buffer.alloc(64);const n=fs.readSync(fs.openSync(process.argv[1],'r'),b,0,64,0);process.stdout.write(b.subarray(0,n),()=>process.exit(0))`,
        path.join(c.mnt, 'slow'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    reader.stdout.on('data', (d) => (out += d));
    let readerErr = '';
    reader.stderr.on('data', (d) => (readerErr += d));
    const readerExit = new Promise<number | null>((resolve) => reader.on('exit', resolve));
    await untilInjected(c.socket); // the read is in its 30 s delay
    const stopping = Date.now();
    assert.equal(await c.stop(), 0, c.stderr());
    const took = Date.now() - stopping;
    // SIGTERM cuts the delay short: the stop must not wait out the 30 s (loose bound for a busy box).
    assert.ok(took < 10_000, `stopping took ${took} ms with a read in a 30 s delay`);
    assert.equal(isMounted(c.mnt), false, 'no mount left behind');
    // The in-flight read was answered with the data, not left hanging on a dead mount or failed.
    assert.equal(await readerExit, 0, readerErr);
    assert.equal(out, 'slow data');
    assert.equal(fs.readFileSync(path.join(c.src, 'slow'), 'utf8'), 'slow data');
  });
});
