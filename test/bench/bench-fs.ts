/**
 * bench:fs — the fuse-native binding (libfuse3) side by side with tmpfs, bindfs and libfuse's own
 * passthrough_ll (built here from Debian's libfuse3-dev examples), all over one tmpfs backing, in
 * interleaved rounds (every row runs on every target once per round; medians of the rounds). The
 * binding runs with no rule, with a rule on `**\/*.sst` (10% of reads, shown to JS) and with a rule
 * that every call matches and that shows every call to JS; ChaosFS itself (the `chaosfs mount` worker,
 * rules through its control socket) with the same three. Then the native delays' accuracy.
 *
 * Needs root (mounts). Run: npm run build:ts && npm run bench:fs
 * Sizes: BENCH_FS_SEQ_MB=128 BENCH_FS_RAND_MB=16 (per fio job, 2 jobs) BENCH_FS_FILES=2000
 * BENCH_FS_GIT_FILES=2000 BENCH_FS_REPS=3 BENCH_FS_DELAY_SAMPLES=300,100,20 BENCH_FS_DELAY=0 (skip).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { OPS, type NativeRule } from '../../native/fuse-native/index';
import type { RuleInput } from '../../sidecar/api/fault-spec';
import { request } from '../../sidecar/control/client';
import { forceUnmountUnder, isMounted } from '../support/mounts';
import { fmt, loadLine, mean, median, pad, pct } from './bench-util';

const env = process.env;
const MiB = 1024 * 1024;
const SEQ_MB = Number(env.BENCH_FS_SEQ_MB ?? 128);
const RAND_MB = Number(env.BENCH_FS_RAND_MB ?? 16);
const RAND_JOBS = 2;
const FILES = Number(env.BENCH_FS_FILES ?? 2000);
const GIT_FILES = Number(env.BENCH_FS_GIT_FILES ?? 2000);
const REPS = Number(env.BENCH_FS_REPS ?? 3);
const DELAY_SAMPLES = (env.BENCH_FS_DELAY_SAMPLES ?? '300,100,20').split(',').map(Number);
const EXAMPLES = '/usr/share/doc/libfuse3-dev/examples';

const RULES: Record<string, NativeRule[]> = {
  none: [],
  sst: [{ ops: ['read'], glob: '**/*.sst', percent: 10, js: true }],
  all: [{ ops: OPS, js: true }],
};

/**
 * The same three for ChaosFS, as fault rules: a 0 ms latency with `times` is kept in JS (`times` is
 * counted there), so each rule crosses into JS on exactly the calls it matches, and changes nothing.
 */
const JS_NOOP = { action: 'latency', delay: '0ms', times: 1e15 } as const;
const CHAOSFS_RULES: Record<string, RuleInput[]> = {
  'cfs-none': [],
  'cfs-sst': [{ ...JS_NOOP, methods: ['read'], path: '**/*.sst', percent: 10 }],
  'cfs-all': [JS_NOOP],
};

interface Target {
  key: string;
  label: string;
  dir: string;
  child?: ChildProcess;
  exited?: Promise<void>;
  /** fuse3-serve's stdin: one rule list per line. */
  rules?: (rules: NativeRule[]) => Promise<void>;
}

interface Row {
  key: string;
  title: string;
  unit: string;
  run(t: Target, rep: number): number;
}

let work = '';
let src = '';
const targets: Target[] = [];

function sh(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** Drops the mount's own page cache of a file (not the backing's): the next read reaches the server. */
function dropFuseCache(t: Target, name: string): void {
  if (t.key !== 'tmpfs')
    sh('dd', [`if=${path.join(t.dir, name)}`, 'iflag=nocache', 'count=0', 'status=none']);
}

function timed(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

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
    `--invalidate=${t.key === 'tmpfs' ? 0 : 1}`,
    '--fallocate=none',
    '--group_reporting',
    '--output-format=json',
  ]);
  const job = (JSON.parse(out) as { jobs: { read: { iops: number; io_bytes: number } }[] }).jobs[0];
  if (job.read.io_bytes !== RAND_JOBS * RAND_MB * MiB) throw new Error(`${t.label}: fio read too little`);
  return job.read.iops;
}

/** create, stat and unlink run once per (target, round) and are reported as three rows. */
const metaCache = new Map<string, Record<'create' | 'stat' | 'unlink', number>>();
function meta(t: Target, rep: number) {
  const id = `${t.key}.${rep}`;
  let s = metaCache.get(id);
  if (s) return s;
  const dir = path.join(t.dir, `meta.${id}`);
  fs.mkdirSync(dir);
  const data = Buffer.alloc(1024, 'x');
  const names = Array.from({ length: FILES }, (_, i) => path.join(dir, `f${i}`));
  const rate = (fn: (n: string) => void) => FILES / timed(() => names.forEach(fn));
  s = {
    create: rate((n) => {
      const fd = fs.openSync(n, 'wx');
      fs.writeSync(fd, data);
      fs.closeSync(fd);
    }),
    stat: rate((n) => void fs.statSync(n)),
    unlink: rate((n) => fs.unlinkSync(n)),
  };
  fs.rmdirSync(dir);
  metaCache.set(id, s);
  return s;
}

const rows: Row[] = [
  {
    key: 'seqread',
    title: `seq read 1 MiB x ${SEQ_MB} MiB (the mount's cache dropped)`,
    unit: 'MiB/s',
    run(t) {
      dropFuseCache(t, 'seq.dat');
      const buf = Buffer.allocUnsafe(MiB);
      let total = 0;
      const s = timed(() => {
        const fd = fs.openSync(path.join(t.dir, 'seq.dat'), 'r');
        for (let n; (n = fs.readSync(fd, buf, 0, MiB, null)) > 0;) total += n;
        fs.closeSync(fd);
      });
      if (total !== SEQ_MB * MiB) throw new Error(`${t.label}: read ${total} bytes of seq.dat`);
      return SEQ_MB / s;
    },
  },
  {
    key: 'seqwrite',
    title: `seq write 1 MiB x ${SEQ_MB} MiB + fsync`,
    unit: 'MiB/s',
    run(t, rep) {
      const name = path.join(t.dir, `w.${t.key}.${rep}.dat`);
      const buf = randomFillSync(Buffer.allocUnsafe(MiB));
      const s = timed(() => {
        const fd = fs.openSync(name, 'w');
        for (let i = 0; i < SEQ_MB; i++) fs.writeSync(fd, buf, 0, MiB, null);
        fs.fsyncSync(fd);
        fs.closeSync(fd);
      });
      fs.unlinkSync(name);
      return SEQ_MB / s;
    },
  },
  {
    key: 'randread',
    title: `fio randread 4 KiB, ${RAND_JOBS} jobs x ${RAND_MB} MiB (the mount's cache dropped)`,
    unit: 'IOPS',
    run: (t) => fio(t),
  },
  ...(['create', 'stat', 'unlink'] as const).map((phase): Row => ({
    key: phase,
    title: `${phase} ${fmt(FILES)} files${phase === 'create' ? ' (1 KiB each)' : ''}`,
    unit: 'ops/s',
    run: (t, rep) => meta(t, rep)[phase],
  })),
  {
    key: 'git',
    title: `git status, ${fmt(GIT_FILES)} files (3 runs)`,
    unit: 'runs/s',
    run(t) {
      const repo = path.join(t.dir, 'repo');
      return (
        3 /
        timed(() =>
          [0, 1, 2].forEach(() => sh('git', ['-c', 'safe.directory=*', '-C', repo, 'status', '--porcelain'])),
        )
      );
    },
  },
];

// ---- targets ----

async function waitMounted(t: Target): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (isMounted(t.dir) && spawnSync('mountpoint', ['-q', t.dir]).status === 0) return;
    if (t.child && t.child.exitCode !== null) throw new Error(`${t.label} exited before mounting`);
    await sleep(25);
  }
  throw new Error(`${t.label} did not mount ${t.dir} within 10 s`);
}

async function startFuse(key: string, label: string, cmd: string, args: string[]): Promise<Target> {
  const dir = path.join(work, key);
  fs.mkdirSync(dir);
  const child = spawn(cmd, [...args.map((a) => a.replace('{MNT}', dir))], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const t: Target = { key, label, dir, child, exited: new Promise((r) => child.on('exit', () => r())) };
  targets.push(t);
  await waitMounted(t).catch((e: Error) => {
    throw new Error(`${e.message}: ${err}`);
  });
  return t;
}

async function startBinding(key: string, rules: NativeRule[]): Promise<Target> {
  const serve = path.join(__dirname, 'fuse3-serve.js');
  const t = await startFuse(key, `fuse3 ${key}`, process.execPath, [serve, src, '{MNT}']);
  const answers = readline.createInterface({ input: t.child!.stdout! })[Symbol.asyncIterator]();
  t.rules = async (list) => {
    t.child!.stdin!.write(`${JSON.stringify(list)}\n`);
    for (;;) {
      const line = (await answers.next()).value as string;
      if (line === 'ok') return;
      if (line.startsWith('error')) throw new Error(`${t.label}: ${line}`);
    }
  };
  await t.rules(rules);
  return t;
}

/** A ChaosFS worker (`chaosfs mount`), its rules set through its control socket. */
async function startChaosFs(key: string, rules: RuleInput[]): Promise<Target> {
  const cli = path.join(__dirname, '../../sidecar/cli.js');
  const socket = path.join(work, `${key}.sock`);
  const t = await startFuse(key, `ChaosFS ${key}`, process.execPath, [
    cli,
    'mount',
    '--source',
    src,
    '--mountpoint',
    '{MNT}',
    '--control',
    socket,
  ]);
  for (let i = 0; i < 200 && !fs.existsSync(socket); i++) await sleep(25);
  t.rules = async () => {
    const reply = await request(socket, { op: 'rules.set', rules, replace: true });
    if (!reply.ok) throw new Error(`${t.label}: ${reply.error.message}`);
  };
  await t.rules([]);
  return t;
}

async function stopAll(): Promise<void> {
  for (const t of targets) {
    if (!t.child || t.child.exitCode !== null || t.child.signalCode !== null) continue;
    if (t.rules) t.child.kill('SIGTERM');
    else spawnSync('umount', ['-l', t.dir], { stdio: 'ignore' });
    const gone = await Promise.race([t.exited!.then(() => true), sleep(10_000).then(() => false)]);
    if (!gone) t.child.kill('SIGKILL');
  }
  if (work) {
    forceUnmountUnder(work);
    spawnSync('umount', ['-l', src], { stdio: 'ignore' });
  }
}

/** passthrough_ll from Debian's libfuse3-dev examples, compiled into the bench's work dir. */
function buildPassthroughLl(): string {
  const c = path.join(EXAMPLES, 'passthrough_ll.c');
  if (!fs.existsSync(c)) throw new Error(`${c} is missing: apt-get install libfuse3-dev`);
  const bin = path.join(work, 'passthrough_ll.bin');
  const flags = sh('pkg-config', ['--cflags', '--libs', 'fuse3']).trim().split(/\s+/);
  sh('cc', ['-O2', '-Wall', `-I${EXAMPLES}`, c, ...flags, '-o', bin]);
  return bin;
}

function prepare(): void {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-bench-fs-'));
  src = path.join(work, 'src');
  fs.mkdirSync(src);
  sh('mount', ['-t', 'tmpfs', '-o', 'size=2g', 'tmpfs', src]);
  const buf = randomFillSync(Buffer.allocUnsafe(MiB));
  const fd = fs.openSync(path.join(src, 'seq.dat'), 'w');
  for (let i = 0; i < SEQ_MB; i++) fs.writeSync(fd, buf);
  fs.closeSync(fd);
  for (let j = 0; j < RAND_JOBS; j++) {
    const f = fs.openSync(path.join(src, `rr.${j}`), 'w');
    for (let i = 0; i < RAND_MB; i++) fs.writeSync(f, randomFillSync(buf));
    fs.closeSync(f);
  }
  const repo = path.join(src, 'repo');
  for (let i = 0; i < GIT_FILES; i++) {
    const d = path.join(repo, `d${i % 50}`);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, `f${i}.txt`), `${i}\n`);
  }
  sh('git', ['init', '-q'], { cwd: repo });
  sh('git', ['add', '.'], { cwd: repo });
  sh('git', ['-c', 'user.name=b', '-c', 'user.email=b@b', 'commit', '-qm', 'x'], { cwd: repo });
}

// ---- delay accuracy ----

/** Python threads doing 4 KiB preads (or pwrites) of one file, each printing its latencies in ms. */
function pyLatencies(file: string, workers: number, calls: number, op: 'read' | 'write' = 'read'): number[] {
  const call =
    op === 'read' ? 'os.pread(fd, 4096, (i % 64) * 4096)' : 'os.pwrite(fd, block, (i % 64) * 4096)';
  const script = `
import os, sys, threading, time
out = []
block = b"\\1" * 4096
def run():
    fd = os.open(${JSON.stringify(file)}, os.O_RDONLY if ${JSON.stringify(op)} == "read" else os.O_WRONLY)
    mine = []
    for i in range(${calls}):
        t = time.monotonic(); ${call}; mine.append((time.monotonic() - t) * 1000)
    os.close(fd); out.extend(mine)
ts = [threading.Thread(target=run) for _ in range(${workers})]
[t.start() for t in ts]; [t.join() for t in ts]
print(' '.join('%.3f' % v for v in out))`;
  return sh('python3', ['-c', script]).trim().split(' ').map(Number);
}

/**
 * A read's delay holds its reply on the timer thread; a write's waits in its FUSE worker before the
 * write runs (delay.h says why): both kinds are measured, one caller and 16 at once.
 */
async function delayAccuracy(t: Target): Promise<void> {
  const file = path.join(t.dir, 'delay.dat');
  for (const op of ['read', 'write'] as const) {
    console.log(`\nNative delays (binding, rule on ${op} of delay.dat, 4 KiB p${op}s; latency in ms):`);
    console.log(pad(['requested', `${op}s`, 'p50', 'p99', 'p99 - requested'], [12, 8, 9, 9, 16]));
    for (const [k, ms] of [1, 10, 100].entries()) {
      await t.rules!([{ ops: [op], glob: 'delay.dat', delayUs: ms * 1000 }]);
      const lat = pyLatencies(file, 1, DELAY_SAMPLES[k], op);
      console.log(
        pad(
          [
            `${ms} ms`,
            String(lat.length),
            fmt(median(lat), 2),
            fmt(pct(lat, 99), 2),
            fmt(pct(lat, 99) - ms, 2),
          ],
          [12, 8, 9, 9, 16],
        ),
      );
    }
    await t.rules!([{ ops: [op], glob: 'delay.dat', delayUs: 10_000, percent: 50 }]);
    const lat = pyLatencies(file, 16, 40, op);
    console.log(
      `50% x 10 ms over 16 concurrent ${op === 'read' ? 'readers' : 'writers'} (${lat.length} ${op}s): mean ${fmt(mean(lat), 2)} ms, ` +
        `p50 ${fmt(median(lat), 2)}, p99 ${fmt(pct(lat, 99), 2)} (goal: mean 5 ± 0.5)`,
    );
  }
  await t.rules!([]);
}

// ---- main ----

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:fs needs root (mounts)');
  prepare();
  fs.writeFileSync(path.join(src, 'delay.dat'), Buffer.alloc(64 * 4096, 1));
  try {
    const tmpfs: Target = { key: 'tmpfs', label: 'tmpfs', dir: src };
    targets.push(tmpfs);
    await startFuse('bindfs', 'bindfs', 'bindfs', ['-f', src, '{MNT}']);
    await startFuse('passthrough_ll', 'passthrough_ll', buildPassthroughLl(), [
      '-f',
      '-o',
      `source=${src}`,
      '{MNT}',
    ]);
    for (const [key, rules] of Object.entries(RULES)) await startBinding(key, rules);
    for (const [key, rules] of Object.entries(CHAOSFS_RULES)) await startChaosFs(key, rules);
    console.log(`bench:fs ${new Date().toISOString()} ${loadLine()}; ${REPS} interleaved rounds, medians`);
    console.log(
      `backing: tmpfs; bindfs: \`bindfs -f SRC MNT\`; passthrough_ll: Debian's example, default options`,
    );
    console.log(
      `fuse3 none: no rule; sst: ${JSON.stringify(RULES.sst)}; all: every op, every path, 100%, to JS`,
    );
    console.log(`ChaosFS (cfs-*): the same as fault rules: ${JSON.stringify(CHAOSFS_RULES)}`);
    const results = new Map<string, Map<string, number[]>>();
    for (let rep = 0; rep < REPS; rep++) {
      for (const row of rows) {
        for (const t of targets) {
          const per = results.get(row.key) ?? new Map<string, number[]>();
          results.set(row.key, per);
          per.set(t.key, [...(per.get(t.key) ?? []), row.run(t, rep)]);
        }
      }
    }
    const keys = targets.map((t) => t.key);
    const widths = [10, 8, ...keys.map(() => 10), 10, 10, 10, 10, 10, 10, 10, 10];
    console.log(
      '\n' +
        pad(
          [
            'row',
            'unit',
            ...keys.map((k) => k.replace('passthrough_ll', 'pt_ll')),
            'none/bfs',
            'none/ptll',
            'sst/none',
            'all/none',
            'cfs/bfs',
            'cfs/ptll',
            'csst/cfs',
            'call/cfs',
          ],
          widths,
        ),
    );
    for (const row of rows) {
      const m = (k: string) => median(results.get(row.key)!.get(k)!);
      const ratio = (a: string, b: string) => fmt(m(a) / m(b), 2);
      console.log(
        pad(
          [
            row.key,
            row.unit,
            ...keys.map((k) => fmt(m(k))),
            ratio('none', 'bindfs'),
            ratio('none', 'passthrough_ll'),
            ratio('sst', 'none'),
            ratio('all', 'none'),
            ratio('cfs-none', 'bindfs'),
            ratio('cfs-none', 'passthrough_ll'),
            ratio('cfs-sst', 'cfs-none'),
            ratio('cfs-all', 'cfs-none'),
          ],
          widths,
        ),
      );
    }
    if (env.BENCH_FS_DELAY !== '0') await delayAccuracy(targets.find((t) => t.key === 'none')!);
  } finally {
    await stopAll();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exitCode = 1;
});
