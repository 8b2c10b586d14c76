/**
 * bench:inject — time from `kubectl-iochaos delay pid/N ...` to rules active, and from `recover` to
 * done, by the number of fds the target holds open under the volume; with the target pause the
 * daemon reports, and where the time goes.
 *
 * The target (test/fixtures/many-fds.c) runs in its own mount namespace on a tmpfs volume and holds N
 * distinct files open. The daemon is one of the bench's own (its own socket, journal and run dir).
 * Needs root. Run: npx tsc -p . && npm run bench:inject
 * BENCH_INJECT_SIZES=10,100,1000,10000  BENCH_INJECT_ROUNDS=3 (sizes >= 10,000 run one round).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from '../../sidecar/control/client';
import { forceUnmountUnder } from '../support/mounts';
import { CHAOSFS_CLI, ROOT } from '../support/paths';
import { buildFixture, startTarget, type Target } from '../native/support';
import { fmt, loadLine, median } from './bench-util';

const PLUGIN_CLI = path.join(ROOT, 'dist', 'plugin', 'cli.js');
const SIZES = (process.env.BENCH_INJECT_SIZES ?? '10,100,1000,10000').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_INJECT_ROUNDS ?? 3);
/** Long enough that the target's one timed read shows it unmistakably. */
const DELAY_MS = 50;
const POLL_MS = 5;

interface JournalLine {
  id: string;
  step: string;
  at: string;
  workerPid?: number;
  workerSocket?: string;
  fuseMntId?: number;
}

interface Round {
  injectMs: number;
  recoverMs: number;
  pauseUs: number;
  statusPauseUs: number;
  /** A `status` call: the plugin's own start-up cost plus one round trip, for scale. */
  statusMs: number;
  swapped: number;
  targetReadMs: number;
  afterReadMs: number;
  /** Named phases, ms. */
  inj: Record<string, number>;
  rec: Record<string, number>;
}

let dir = '';
let daemon: ChildProcess | undefined;
const workerPids = new Set<number>();

function cliEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    IOCHAOS_SOCKET: path.join(dir, 'chaosfs.sock'),
    IOCHAOS_STATE_DIR: path.join(dir, 'state'),
    IOCHAOS_RUN_DIR: path.join(dir, 'run'),
  };
}

/** Runs the plugin without blocking, so the bench can watch the target while it works. */
function cli(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string; endMs: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PLUGIN_CLI, ...args], { env: cliEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr, endMs: Date.now() }));
  });
}

function journal(id?: string): JournalLine[] {
  const text = fs.readFileSync(path.join(dir, 'state', 'journal.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JournalLine)
    .filter((l) => id === undefined || l.id === id);
}

const at = (l: JournalLine | undefined) => (l ? Date.parse(l.at) : NaN);

function fuseMountId(pid: number, vol: string): number | undefined {
  const line = fs
    .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[4] === vol && l.includes(' - fuse.chaosfs '))
    .pop();
  return line === undefined ? undefined : Number(line.split(' ')[0]);
}

function fdMount(pid: number, fd: number): number {
  const m = /^mnt_id:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
  return Number(m?.[1]);
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Watches the target from outside every POLL_MS: when the ChaosFS mount appears (or goes), and when
 * its first and last held fds are all on it (or all off it). Cheap: two fdinfo files and one mountinfo.
 */
function watch(pid: number, vol: string, fds: number[], mode: 'inject' | 'recover', workerPid?: number) {
  const seen: Record<string, number> = {};
  let fuse = mode === 'recover' ? fuseMountId(pid, vol) : undefined;
  const tick = () => {
    const now = Date.now();
    try {
      const id = fuseMountId(pid, vol);
      if (mode === 'inject' && id !== undefined) {
        fuse = id;
        seen.mounted ??= now;
      }
      if (mode === 'recover' && id === undefined) seen.unmounted ??= now;
      if (fuse !== undefined) {
        const on = fds.map((fd) => fdMount(pid, fd) === fuse);
        if (mode === 'inject' && on.every(Boolean)) seen.fdsOn ??= now;
        if (mode === 'recover' && on.every((x) => !x)) seen.fdsOff ??= now;
      }
      if (workerPid !== undefined && !alive(workerPid)) seen.workerGone ??= now;
    } catch {
      // The target's /proc entries can vanish mid-read; the next tick tries again.
    }
  };
  const timer = setInterval(tick, POLL_MS);
  return {
    seen,
    stop() {
      clearInterval(timer);
      tick();
    },
  };
}

async function targetRead(t: Target): Promise<number> {
  t.lines.length = 0;
  t.send('read');
  const line = await t.waitLine((l) => l.startsWith('{"us"'), 'read reply');
  return (JSON.parse(line) as { us: number }).us / 1000;
}

async function round(t: Target, vol: string, fds: number[]): Promise<Round> {
  // ---- inject ----
  const w1 = watch(t.pid, vol, fds, 'inject');
  const t0 = Date.now();
  const inj = await cli([
    'delay',
    `pid/${t.pid}`,
    '--path',
    vol,
    '--delay',
    `${DELAY_MS}ms`,
    '--methods',
    'read',
    '-o',
    'json',
  ]);
  w1.stop();
  if (inj.code !== 0) throw new Error(`inject failed (${inj.code}): ${inj.stderr}${inj.stdout}`);
  const result = (JSON.parse(inj.stdout) as { result: { id: string; pauseUs: number; swapped: number } }[])[0]
    .result;
  const id = result.id;
  const targetReadMs = await targetRead(t);
  const s0 = Date.now();
  const status = await cli(['status', `pid/${t.pid}`, '-o', 'json']);
  const statusMs = status.endMs - s0;
  const statusPauseUs = (JSON.parse(status.stdout) as { result: { injections: { pauseUs: number }[] } }[])[0]
    .result.injections[0].pauseUs;

  const j = journal(id);
  const step = (s: string, has?: keyof JournalLine) =>
    j.find((l) => l.step === s && (has === undefined || l[has] !== undefined));
  const workerPid = step('worker', 'workerPid')?.workerPid;
  if (workerPid) workerPids.add(workerPid);
  // The daemon's rules.set to its worker is not journaled apart from the swap: time the same request.
  const rulesSetMs: number[] = [];
  const sock = step('begun')!.workerSocket!;
  for (let i = 0; i < 5; i++) {
    const s = process.hrtime.bigint();
    await request(sock, {
      op: 'rules.set',
      rules: [{ action: 'latency', delay: `${DELAY_MS}ms`, methods: ['read'] }],
      replace: true,
    });
    rulesSetMs.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  const swapStart = at(step('swapped'));
  const active = at(step('active'));
  const injPhases = {
    'cli start+request': at(step('begun')) - t0,
    'worker start': at(step('worker', 'workerPid')) - at(step('begun')),
    'worker health': at(step('attached')) - at(step('worker', 'workerPid')),
    attach: at(step('attached', 'fuseMntId')) - at(step('attached')),
    'fd swap': w1.seen.fdsOn !== undefined ? w1.seen.fdsOn - swapStart : NaN,
    'swap+rules on': active - swapStart,
    'rules.set rtt': median(rulesSetMs),
    'reply+cli exit': inj.endMs - active,
  };

  // ---- recover ----
  const w2 = watch(t.pid, vol, fds, 'recover', workerPid);
  const r0 = Date.now();
  const rec = await cli(['recover', `pid/${t.pid}`, '--path', vol]);
  await sleep(POLL_MS * 2);
  w2.stop();
  if (rec.code !== 0) throw new Error(`recover failed (${rec.code}): ${rec.stderr}${rec.stdout}`);
  const jr = journal(id);
  const recovering = at(jr.find((l) => l.step === 'recovering'));
  const recovered = at(jr.find((l) => l.step === 'recovered'));
  const s = w2.seen;
  const recPhases = {
    'cli start+request': recovering - r0,
    'rules off+fds back': s.fdsOff - recovering,
    detach: s.unmounted - s.fdsOff,
    'worker stop': s.workerGone - s.unmounted,
    'cleanup+check': recovered - Math.max(s.workerGone, s.unmounted),
    'reply+cli exit': rec.endMs - recovered,
  };
  const afterReadMs = await targetRead(t);
  return {
    injectMs: inj.endMs - t0,
    recoverMs: rec.endMs - r0,
    pauseUs: result.pauseUs,
    statusPauseUs,
    statusMs,
    swapped: result.swapped,
    targetReadMs,
    afterReadMs,
    inj: injPhases,
    rec: recPhases,
  };
}

async function startDaemon(): Promise<void> {
  const log = fs.openSync(path.join(dir, 'daemon.log'), 'a');
  daemon = spawn(process.execPath, [CHAOSFS_CLI, 'daemon'], { env: cliEnv(), stdio: ['ignore', log, log] });
  fs.closeSync(log);
  for (let i = 0; i < 400; i++) {
    if (daemon.exitCode !== null)
      throw new Error(`daemon exited: ${fs.readFileSync(path.join(dir, 'daemon.log'))}`);
    const reply = await request(cliEnv().IOCHAOS_SOCKET!, { op: 'health' }).catch(() => undefined);
    if (reply?.ok) return;
    await sleep(25);
  }
  throw new Error('daemon did not answer within 10 s');
}

async function stopDaemon(): Promise<void> {
  if (!daemon || daemon.exitCode !== null || daemon.signalCode !== null) return;
  // SIGTERM makes the daemon recover whatever is still injected before it exits.
  const exited = new Promise<void>((r) => daemon!.once('exit', () => r()));
  daemon.kill('SIGTERM');
  if (!(await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)])))
    daemon.kill('SIGKILL');
}

const ms = (v: number) => fmt(v);

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:inject needs root (FUSE, ptrace, namespaces)');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-bench-inject-'));
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = Date.now();
  const results: { n: number; rounds: Round[] }[] = [];
  try {
    console.log(`bench:inject  ${new Date().toISOString()}  kernel ${os.release()}  node ${process.version}`);
    console.log(`start: ${loadLine()}`);
    const fixture = buildFixture('many-fds', dir);
    await startDaemon();
    // One untimed round first: the page cache then holds node, the CLI and the worker's modules.
    const plan = [{ n: 10, warmup: true }, ...SIZES.map((n) => ({ n, warmup: false }))];
    for (const { n, warmup } of plan) {
      const vol = path.join(dir, warmup ? 'warmup' : `vol${n}`);
      fs.mkdirSync(vol, { recursive: true });
      const t = await startTarget(`mount -t tmpfs t '${vol}'`, [fixture, vol, String(n)]);
      try {
        const ready = JSON.parse(t.lines.find((l) => l.startsWith('{"ready"'))!) as {
          first: number;
          last: number;
        };
        const rounds: Round[] = [];
        const count = warmup || n >= 10_000 ? 1 : ROUNDS;
        for (let i = 0; i < count; i++) rounds.push(await round(t, vol, [ready.first, ready.last]));
        if (warmup) continue;
        results.push({ n, rounds });
        console.log(
          `fds ${n}: inject ${rounds.map((r) => ms(r.injectMs)).join(', ')} ms; recover ` +
            `${rounds.map((r) => ms(r.recoverMs)).join(', ')} ms; ${loadLine()}`,
        );
      } finally {
        t.send('stop');
        await Promise.race([t.exit(), sleep(2000)]);
        t.kill();
      }
    }

    const real = results;
    const med = (rs: Round[], f: (r: Round) => number) => median(rs.map(f));
    console.log(
      `\nEnd to end, wall clock from spawning the CLI to its exit (median of ${ROUNDS} rounds; one at >= 10,000 fds).` +
        `\n"rules active" is when the CLI returns (the daemon replies after rules.set); the target then` +
        `\ntimes one pread through a held fd: it must show the ${DELAY_MS} ms delay, and none after recover.` +
        `\n"status ms" is a whole \`kubectl-iochaos status\` run: what the plugin's start-up alone costs.`,
    );
    const w = [8, 9, 12, 11, 13, 13, 14, 13, 10];
    console.log(
      [
        'fds'.padEnd(w[0]),
        'swapped'.padStart(w[1]),
        'inject ms'.padStart(w[2]),
        'recover ms'.padStart(w[3]),
        'pause ms (i)'.padStart(w[4]),
        'pause (status)'.padStart(w[5]),
        'read w/ rule'.padStart(w[6]),
        'read after'.padStart(w[7]),
        'status ms'.padStart(w[8]),
      ].join('  '),
    );
    for (const { n, rounds } of real) {
      console.log(
        [
          String(n).padEnd(w[0]),
          String(rounds[0].swapped).padStart(w[1]),
          ms(med(rounds, (r) => r.injectMs)).padStart(w[2]),
          ms(med(rounds, (r) => r.recoverMs)).padStart(w[3]),
          fmt(med(rounds, (r) => r.pauseUs) / 1000, 2).padStart(w[4]),
          fmt(med(rounds, (r) => r.statusPauseUs) / 1000, 2).padStart(w[5]),
          `${fmt(
            med(rounds, (r) => r.targetReadMs),
            1,
          )} ms`.padStart(w[6]),
          `${fmt(
            med(rounds, (r) => r.afterReadMs),
            2,
          )} ms`.padStart(w[7]),
          ms(med(rounds, (r) => r.statusMs)).padStart(w[8]),
        ].join('  '),
      );
    }

    const breakdown = (title: string, pick: (r: Round) => Record<string, number>) => {
      const names = Object.keys(pick(real[0].rounds[0]));
      console.log(`\n${title}`);
      console.log(['phase'.padEnd(20), ...real.map((r) => `${r.n} fds`.padStart(10))].join(''));
      for (const name of names) {
        console.log(
          [name.padEnd(20), ...real.map((r) => ms(med(r.rounds, (x) => pick(x)[name])).padStart(10))].join(
            '',
          ),
        );
      }
    };
    breakdown(
      'Inject, where the time goes (median ms; journal timestamps (1 ms) and the target watched every 5 ms).\n' +
        '"fd swap" is journal "swapped" (before the swap) to both watched fds seen on ChaosFS; "swap+rules on"\n' +
        'runs to journal "active"; "rules.set rtt" is the same request timed from the bench, for scale.',
      (r) => r.inj,
    );
    breakdown(
      'Recover, where the time goes (median ms): "rules off+fds back" ends when both watched fds left\n' +
        'ChaosFS, "detach" when its mount left the target\'s table, "worker stop" when the worker exited.',
      (r) => r.rec,
    );
    console.log(`\nend: ${loadLine()}; total ${fmt((Date.now() - started) / 1000, 1)} s`);
  } finally {
    await cleanup();
  }
}

async function cleanup(): Promise<void> {
  await stopDaemon();
  // Workers run in their own sessions; the daemon stops them, but none may outlive the bench.
  for (const pid of workerPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  if (dir) {
    forceUnmountUnder(dir);
    spawnSync('umount', ['-l', path.join(dir, 'run')], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
