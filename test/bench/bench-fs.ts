/**
 * bench:fs — no-rule ChaosFS against the same workload directly on the backing directory and through
 * bindfs (a C FUSE pass-through), measured side by side in one run; then ChaosFS's delay accuracy.
 *
 * Needs root (FUSE mounts, drop_caches). Run: npx tsc -p . && npm run bench:fs
 * Sizes (defaults per issue 2): BENCH_FS_SEQ_MB=256 BENCH_FS_RAND_MB=32 (per fio job, 4 jobs)
 * BENCH_FS_FILES=5000 BENCH_FS_REPS=3 BENCH_FS_DELAY_SAMPLES=500,200,100 BENCH_FS_CONC_READS=60
 * BENCH_FS_DIR=/var/tmp BENCH_FS_ROWS=<comma list of row keys> BENCH_FS_DELAY=0 (skip delay part).
 * Experiments on the worker without touching sidecar/: BENCH_FS_WORKER_NODE_ARGS (e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof"), BENCH_FS_WORKER_UV_THREADS (its UV_THREADPOOL_SIZE).
 */
// The concurrent-reader part waits on 16 blocking reads at once; libuv's default pool of 4 threads
// would serialize them here, in the client, and hide what ChaosFS does. Set before the pool starts.
process.env.UV_THREADPOOL_SIZE = '32';

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RuleInput } from '../../sidecar/api/fault-spec';
import { request } from '../../sidecar/control/client';
import { forceUnmountUnder, isMounted } from '../support/mounts';
import { CHAOSFS_CLI } from '../support/paths';
import { cpuMs, fmt, loadLine, mean, median, pad, pct } from './bench-util';

const env = process.env;
const MiB = 1024 * 1024;
const SEQ_MB = Number(env.BENCH_FS_SEQ_MB ?? 256);
const RAND_MB = Number(env.BENCH_FS_RAND_MB ?? 32);
const RAND_JOBS = 4;
const FILES = Number(env.BENCH_FS_FILES ?? 5000);
const REPS = Number(env.BENCH_FS_REPS ?? 3);
const DELAY_SAMPLES = (env.BENCH_FS_DELAY_SAMPLES ?? '500,200,100').split(',').map(Number);
const CONC_READERS = 16;
const CONC_READS = Number(env.BENCH_FS_CONC_READS ?? 60);
const BASE = env.BENCH_FS_DIR ?? '/var/tmp';

type TargetKey = 'direct' | 'bindfs' | 'bindfsAsCfs' | 'chaosfs';
interface Target {
  key: TargetKey;
  label: string;
  dir: string;
  /** The FUSE server process (undefined for the backing itself). */
  child?: ChildProcess;
  exited?: Promise<void>;
}

interface Sample {
  value: number;
  /** CPU time the FUSE server spent on this run. */
  serverCpuMs: number;
}

interface Row {
  key: string;
  title: string;
  unit: string;
  run(t: Target, rep: number): Sample;
}

let work = '';
let src = '';
const targets: Target[] = [];

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

function dropCaches(): void {
  sh('sync', []);
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
}

/** Reads a file once on the backing, so the next read of it finds it in the page cache. */
function warmBacking(file: string): void {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(MiB);
  while (fs.readSync(fd, buf, 0, MiB, null) > 0);
  fs.closeSync(fd);
}

/**
 * Drops the FUSE mount's own page cache of a file (POSIX_FADV_DONTNEED through the mount) and not the
 * backing's: a bindfs read then goes to bindfs, as every ChaosFS read goes to ChaosFS.
 */
function dropFuseCache(t: Target, name: string): void {
  if (t.key === 'direct') return;
  sh('dd', [`if=${path.join(t.dir, name)}`, 'iflag=nocache', 'count=0', 'status=none']);
}

function measured(t: Target, fn: () => number): Sample {
  const before = cpuMs(t.child?.pid);
  const value = fn();
  return { value, serverCpuMs: cpuMs(t.child?.pid) - before };
}

function seqRead(t: Target): number {
  const fd = fs.openSync(path.join(t.dir, 'seq.dat'), 'r');
  const buf = Buffer.allocUnsafe(MiB);
  const t0 = process.hrtime.bigint();
  let total = 0;
  for (let n; (n = fs.readSync(fd, buf, 0, MiB, null)) > 0;) total += n;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  fs.closeSync(fd);
  if (total !== SEQ_MB * MiB) throw new Error(`${t.label}: read ${total} bytes of seq.dat`);
  return total / MiB / s;
}

const rows: Row[] = [
  {
    key: 'seqread-cold',
    title: `seq read 1 MiB x ${SEQ_MB} MiB, cold (drop_caches before each)`,
    unit: 'MiB/s',
    run(t) {
      dropCaches();
      return measured(t, () => seqRead(t));
    },
  },
  {
    key: 'seqread-warm',
    title: `seq read 1 MiB x ${SEQ_MB} MiB, backing cached, FUSE cache dropped`,
    unit: 'MiB/s',
    run(t) {
      warmBacking(path.join(src, 'seq.dat'));
      dropFuseCache(t, 'seq.dat');
      return measured(t, () => seqRead(t));
    },
  },
  {
    key: 'seqwrite',
    title: `seq write 1 MiB x ${SEQ_MB} MiB + fsync`,
    unit: 'MiB/s',
    run(t, rep) {
      const name = `w.${t.key}.${rep}.dat`;
      const buf = randomFillSync(Buffer.allocUnsafe(MiB));
      const sample = measured(t, () => {
        const t0 = process.hrtime.bigint();
        const fd = fs.openSync(path.join(t.dir, name), 'w');
        for (let i = 0; i < SEQ_MB; i++) fs.writeSync(fd, buf, 0, MiB, null);
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        return SEQ_MB / (Number(process.hrtime.bigint() - t0) / 1e9);
      });
      fs.unlinkSync(path.join(src, name));
      sh('sync', []);
      return sample;
    },
  },
  {
    key: 'randread-warm',
    title: `fio randread 4 KiB, ${RAND_JOBS} jobs x ${RAND_MB} MiB, backing cached`,
    unit: 'IOPS',
    run(t) {
      for (let j = 0; j < RAND_JOBS; j++) {
        warmBacking(path.join(src, `rr.${j}`));
        dropFuseCache(t, `rr.${j}`);
      }
      return measured(t, () => fio(t));
    },
  },
  {
    key: 'randread-cold',
    title: `fio randread 4 KiB, ${RAND_JOBS} jobs x ${RAND_MB} MiB, cold (drop_caches)`,
    unit: 'IOPS',
    run(t) {
      dropCaches();
      return measured(t, () => fio(t));
    },
  },
  ...(['create', 'stat', 'unlink'] as const).map((phase): Row => ({
    key: phase,
    title: `${phase} ${fmt(FILES)} small files${phase === 'create' ? ' (1 KiB each)' : ''}`,
    unit: 'ops/s',
    run: (t, rep) => metaSamples(t, rep)[phase],
  })),
];

/**
 * fio with its file-per-job layout (prepared on the backing), random map (each block read once, so
 * bindfs's page cache never serves a repeat), fadvise RANDOM (no read-ahead). The backing directory
 * keeps its cache (invalidate=0); through a FUSE mount invalidate=1 drops only the mount's own cache.
 */
function fio(t: Target): number {
  const out = sh('fio', [
    '--name=rr',
    '--rw=randread',
    '--bs=4k',
    `--numjobs=${RAND_JOBS}`,
    `--size=${RAND_MB}M`,
    `--directory=${t.dir}`,
    '--filename_format=rr.$jobnum',
    '--ioengine=psync',
    '--direct=0',
    `--invalidate=${t.key === 'direct' ? 0 : 1}`,
    '--fallocate=none',
    '--group_reporting',
    '--output-format=json',
  ]);
  const job = (JSON.parse(out) as { jobs: { read: { iops: number; io_bytes: number } }[] }).jobs[0];
  if (job.read.io_bytes !== RAND_JOBS * RAND_MB * MiB) throw new Error(`${t.label}: fio read too little`);
  return job.read.iops;
}

/** create, stat and unlink run once per (target, rep) and are reported as three rows. */
const metaCache = new Map<string, Record<'create' | 'stat' | 'unlink', Sample>>();
function metaSamples(t: Target, rep: number) {
  const id = `${t.key}.${rep}`;
  let s = metaCache.get(id);
  if (s) return s;
  const dir = path.join(t.dir, `meta.${id}`);
  fs.mkdirSync(dir);
  const data = Buffer.alloc(1024, 'x');
  const names = Array.from({ length: FILES }, (_, i) => path.join(dir, `f${i}`));
  const phase = (fn: (name: string) => void) =>
    measured(t, () => {
      const t0 = process.hrtime.bigint();
      for (const n of names) fn(n);
      return FILES / (Number(process.hrtime.bigint() - t0) / 1e9);
    });
  s = {
    create: phase((n) => {
      const fd = fs.openSync(n, 'wx');
      fs.writeSync(fd, data);
      fs.closeSync(fd);
    }),
    stat: phase((n) => void fs.statSync(n)),
    unlink: phase((n) => fs.unlinkSync(n)),
  };
  fs.rmdirSync(dir);
  metaCache.set(id, s);
  return s;
}

// ---- mounts ----

async function waitMounted(t: Target, fstype: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (isMounted(t.dir, fstype) && spawnSync('mountpoint', ['-q', t.dir]).status === 0) return;
    if (t.child?.exitCode !== null) throw new Error(`${t.label} exited before mounting`);
    await sleep(25);
  }
  throw new Error(`${t.label} did not mount ${t.dir} within 10 s`);
}

async function startFuse(key: TargetKey, label: string, cmd: string, args: string[], extraEnv = {}) {
  const dir = path.join(work, key);
  fs.mkdirSync(dir);
  const child = spawn(cmd, [...args, dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...extraEnv, ...childEnv() },
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const t: Target = { key, label, dir, child, exited: new Promise((r) => child.on('exit', () => r())) };
  targets.push(t);
  await waitMounted(t, key === 'chaosfs' ? 'fuse.chaosfs' : 'fuse').catch((e: Error) => {
    throw new Error(`${e.message}: ${err}`);
  });
  return t;
}

/** The worker sets its own thread-pool size unless told; ours (for the readers) must not leak in. */
function childEnv(): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e.UV_THREADPOOL_SIZE;
  if (env.BENCH_FS_WORKER_UV_THREADS) e.UV_THREADPOOL_SIZE = env.BENCH_FS_WORKER_UV_THREADS;
  return e;
}

async function stopAll(): Promise<void> {
  for (const t of targets) {
    if (!t.child || t.child.exitCode !== null || t.child.signalCode !== null) continue;
    if (t.key === 'chaosfs') t.child.kill('SIGTERM');
    else spawnSync('fusermount', ['-u', t.dir], { stdio: 'ignore' });
    const gone = await Promise.race([t.exited!.then(() => true), sleep(10_000).then(() => false)]);
    if (!gone) t.child.kill('SIGKILL');
  }
  // Last resort, whatever state the run ended in: no mount may outlive the bench.
  if (work) forceUnmountUnder(work);
}

// ---- delay accuracy ----

function readLatencies(fd: number, n: number): number[] {
  const buf = Buffer.allocUnsafe(4096);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    fs.readSync(fd, buf, 0, 4096, (i % 256) * 4096);
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

async function concurrentLatencies(file: string): Promise<{ lat: number[]; wallMs: number }> {
  const lat: number[] = [];
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONC_READERS }, async (_, r) => {
      const h = await fs.promises.open(file, 'r');
      const buf = Buffer.allocUnsafe(4096);
      for (let i = 0; i < CONC_READS; i++) {
        const s = process.hrtime.bigint();
        await h.read(buf, 0, 4096, ((r * CONC_READS + i) % 256) * 4096);
        lat.push(Number(process.hrtime.bigint() - s) / 1e6);
      }
      await h.close();
    }),
  );
  return { lat, wallMs: Number(process.hrtime.bigint() - t0) / 1e6 };
}

async function setRules(socket: string, rules: RuleInput[]): Promise<void> {
  const reply = await request(socket, { op: 'rules.set', rules, replace: true });
  if (!reply.ok) throw new Error(`rules.set: ${reply.error.message}`);
}

async function delayAccuracy(cfs: Target, socket: string): Promise<void> {
  const file = path.join(cfs.dir, 'delay.dat');
  const fd = fs.openSync(file, 'r');
  const ms = (v: number) => fmt(v, 2);
  try {
    await setRules(socket, []);
    readLatencies(fd, 50);
    const base = readLatencies(fd, Math.max(...DELAY_SAMPLES));
    const b50 = median(base);
    console.log(
      `\nDelay accuracy: 4 KiB pread through ChaosFS, one reader, latency rule on read. ` +
        `Added = per-call latency - no-rule p50 (${ms(b50)} ms; no-rule p99 ${ms(pct(base, 99))} ms).`,
    );
    const w = [12, 8, 14, 14, 14, 16];
    console.log(
      pad(['requested', 'calls', 'added p50 ms', 'added p99 ms', 'added max ms', 'p99 - request'], w),
    );
    for (const [i, d] of [1, 10, 100].entries()) {
      const n = DELAY_SAMPLES[i] ?? DELAY_SAMPLES[DELAY_SAMPLES.length - 1];
      await setRules(socket, [{ id: 'bench-delay', action: 'latency', delay: `${d}ms`, methods: ['read'] }]);
      const added = readLatencies(fd, n).map((l) => l - b50);
      await setRules(socket, []);
      console.log(
        pad(
          [
            `${d} ms`,
            String(n),
            ms(median(added)),
            ms(pct(added, 99)),
            ms(Math.max(...added)),
            `${pct(added, 99) - d >= 0 ? '+' : ''}${ms(pct(added, 99) - d)} ms`,
          ],
          w,
        ),
      );
    }
  } finally {
    fs.closeSync(fd);
  }

  // The talk's point: a delay must not hold up other calls. 50% x 10 ms should add ~5 ms on average.
  await concurrentLatencies(file);
  const base = await concurrentLatencies(file);
  await setRules(socket, [
    { id: 'bench-half', action: 'latency', delay: '10ms', percent: 50, seed: 7, methods: ['read'] },
  ]);
  const hit = await concurrentLatencies(file);
  // The rule's own counters say how many calls it delayed; a latency threshold cannot, since the
  // no-rule latencies at 16 readers already spread over several ms of queueing.
  const listed = await request<{ rules: { id: string; matched: number; injected: number }[] }>(socket, {
    op: 'rules.list',
  });
  const counters = listed.ok ? listed.result.rules.find((r) => r.id === 'bench-half') : undefined;
  await setRules(socket, []);
  const addedMean = mean(hit.lat) - mean(base.lat);
  const delayed = counters ? counters.injected / counters.matched : NaN;
  console.log(
    `\n50% x 10 ms on read, ${CONC_READERS} concurrent readers x ${CONC_READS} reads (4 KiB pread):\n` +
      `  no rule: mean ${ms(mean(base.lat))} ms, p99 ${ms(pct(base.lat, 99))} ms, wall ${fmt(base.wallMs)} ms\n` +
      `  rule:    mean ${ms(mean(hit.lat))} ms, p99 ${ms(pct(hit.lat, 99))} ms, wall ${fmt(hit.wallMs)} ms\n` +
      `  mean added delay ${ms(addedMean)} ms (expect ~5 ms; 10 ms would mean delays serialize), ` +
      `calls delayed ${(delayed * 100).toFixed(0)}% (rule counters; expect ~50%); serialized, the wall time would be ` +
      `>= ${fmt((CONC_READERS * CONC_READS * 10) / 2)} ms.\n  The no-rule mean at 16 readers is mostly queueing in ChaosFS; while half the calls sleep, fewer` +
      `\n  compete, so a mean added delay under 5 ms means a saturated server, not a short delay.`,
  );
}

// ---- main ----

function prepare(): void {
  const buf = Buffer.allocUnsafe(MiB);
  const write = (name: string, mb: number) => {
    const fd = fs.openSync(path.join(src, name), 'w');
    for (let i = 0; i < mb; i++) fs.writeSync(fd, randomFillSync(buf));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  };
  write('seq.dat', SEQ_MB);
  for (let j = 0; j < RAND_JOBS; j++) write(`rr.${j}`, RAND_MB);
  write('delay.dat', 1);
}

function printRow(row: Row, res: Map<TargetKey, Sample[]>): void {
  const med = (k: TargetKey) => median((res.get(k) ?? []).map((s) => s.value));
  const cpu = (k: TargetKey) => median((res.get(k) ?? []).map((s) => s.serverCpuMs));
  const c = med('chaosfs');
  const ratio = (k: TargetKey) => (Number.isFinite(med(k)) ? `${(c / med(k)).toFixed(2)}x` : '-');
  console.log(
    pad(
      [
        row.key,
        row.unit,
        fmt(med('direct')),
        fmt(med('bindfs')),
        fmt(med('bindfsAsCfs')),
        fmt(c),
        ratio('direct'),
        ratio('bindfs'),
        ratio('bindfsAsCfs'),
        `${fmt(cpu('bindfs'))}/${fmt(cpu('bindfsAsCfs'))}/${fmt(cpu('chaosfs'))}`,
      ],
      WIDTHS,
    ),
  );
}
const WIDTHS = [14, 6, 9, 9, 10, 9, 10, 10, 12, 18];

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:fs needs root (FUSE mounts, drop_caches)');
  work = fs.mkdtempSync(path.join(BASE, 'iochaos-bench-fs-'));
  src = path.join(work, 'src');
  fs.mkdirSync(src);
  const onSignal = () => void stopAll().finally(() => process.exit(130));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = Date.now();
  try {
    const fsType = sh('findmnt', ['-no', 'FSTYPE,SOURCE', '-T', src]).trim();
    console.log(`bench:fs  ${new Date().toISOString()}  kernel ${os.release()}  node ${process.version}`);
    console.log(`start: ${loadLine()}`);
    console.log(`backing: ${src} on ${fsType}; all mounts below are over this one directory`);
    prepare();

    targets.push({ key: 'direct', label: 'direct', dir: src });
    await startFuse('bindfs', 'bindfs', 'bindfs', ['-f', src]);
    await startFuse('bindfsAsCfs', 'bindfs (ChaosFS options)', 'bindfs', [
      '-f',
      '--multithreaded',
      '-o',
      'direct_io,attr_timeout=0,entry_timeout=0,big_writes',
      src,
    ]);
    const socket = path.join(work, 'control.sock');
    const nodeArgs = env.BENCH_FS_WORKER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const cfs = await startFuse('chaosfs', 'chaosfs', process.execPath, [
      ...nodeArgs,
      CHAOSFS_CLI,
      'mount',
      '--control',
      socket,
      '--source',
      src,
      '--mountpoint',
    ]);

    console.log(
      `\nFairness: ChaosFS mounts with direct_io (every read reaches the rules, nothing from the page cache)\n` +
        `and attr/entry timeouts of 0. So: "cold" rows drop all caches before every run; "backing cached"\n` +
        `rows read the backing once first and drop only the FUSE mount's own cache of the file\n` +
        `(POSIX_FADV_DONTNEED through the mount: dd iflag=nocache / fio invalidate=1), so bindfs cannot\n` +
        `serve a read from its page cache either; fio reads each 4 KiB block once per job (random map)\n` +
        `with read-ahead off (fadvise RANDOM). Writes fsync before the clock stops. Reads and writes are\n` +
        `1 MiB syscalls from this process (readSync/writeSync); metadata rows are sync calls from it too.\n` +
        `"bindfs" is \`bindfs SRC MNT\` (libfuse 2.9, single-threaded, page cache, 1 s attr/entry cache,\n` +
        `no big_writes); "bindfs-cfs" is bindfs with ChaosFS's settings: --multithreaded\n` +
        `-o direct_io,attr_timeout=0,entry_timeout=0,big_writes — the ratio to it is the cost of\n` +
        `ChaosFS's implementation (Node + fuse-native), the ratio to plain bindfs includes the cost of\n` +
        `its cache choices. Target order rotates each repetition; figures are medians of ${REPS}.`,
    );

    const only = env.BENCH_FS_ROWS?.split(',');
    const selected = rows.filter((r) => !only || only.includes(r.key));
    const results = new Map<string, Map<TargetKey, Sample[]>>(selected.map((r) => [r.key, new Map()]));
    for (let rep = 0; rep < REPS; rep++) {
      const order = targets.map((_, i) => targets[(i + rep) % targets.length]);
      for (const row of selected) {
        for (const t of order) {
          const s = row.run(t, rep);
          const m = results.get(row.key)!;
          m.set(t.key, [...(m.get(t.key) ?? []), s]);
        }
      }
      console.log(`rep ${rep + 1}/${REPS} done at ${fmt((Date.now() - started) / 1000, 1)} s; ${loadLine()}`);
    }

    console.log('\nThroughput (median; ratios are ChaosFS speed / other speed, > 1 means ChaosFS is faster)');
    for (const row of selected) console.log(`  ${row.key.padEnd(14)} ${row.title}`);
    console.log(
      pad(
        [
          'row',
          'unit',
          'direct',
          'bindfs',
          'bindfs-cfs',
          'chaosfs',
          'cfs/direct',
          'cfs/bindfs',
          'cfs/bindfs-cfs',
          'server CPU ms b/bc/c',
        ],
        WIDTHS,
      ),
    );
    for (const row of selected) printRow(row, results.get(row.key)!);
    console.log('\nEvery repetition (direct | bindfs | bindfs-cfs | chaosfs):');
    for (const row of selected) {
      const m = results.get(row.key)!;
      const keys: TargetKey[] = ['direct', 'bindfs', 'bindfsAsCfs', 'chaosfs'];
      console.log(
        `  ${row.key.padEnd(14)} ` +
          keys.map((k) => (m.get(k) ?? []).map((s) => fmt(s.value)).join(' ')).join(' | '),
      );
    }

    if (env.BENCH_FS_DELAY !== '0') await delayAccuracy(cfs, socket);
    console.log(`\nend: ${loadLine()}; total ${fmt((Date.now() - started) / 1000, 1)} s`);
  } finally {
    await stopAll();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
