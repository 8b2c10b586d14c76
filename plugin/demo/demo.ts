/**
 * `npm run demo` (as root): the whole loop on one machine, in under a minute, through the real
 * `kubectl-iochaos` command. A sample app runs on a volume in its own mount namespace; while it runs we
 * delay half its calls by 10 ms, then fail 10% of its writes with EIO, then recover — and check that
 * every record it wrote is intact.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { RECORD_SIZE, record } from './sample-app';

const PLUGIN = path.join(__dirname, '..', 'cli.js');
const APP = path.join(__dirname, 'sample-app.js');
const SPARK = '▁▂▃▄▅▆▇█';

interface Stats {
  ops: number;
  errors: number;
  p50: number;
  p99: number;
  mean: number;
  written: number;
}

function sparkline(values: number[]): string {
  const max = Math.max(...values, 1);
  return values
    .map((v) => SPARK[Math.min(SPARK.length - 1, Math.floor((v / max) * (SPARK.length - 1)))])
    .join('');
}

async function main() {
  if (process.getuid?.() !== 0) {
    console.error(
      'the demo needs root (it mounts FUSE, makes a mount namespace and ptraces the app): run it as root',
    );
    process.exit(1);
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-demo-'));
  const volume = path.join(work, 'data');
  fs.mkdirSync(volume);
  const env = {
    ...process.env,
    IOCHAOS_SOCKET: path.join(work, 'chaosfs.sock'),
    IOCHAOS_STATE_DIR: path.join(work, 'state'),
    IOCHAOS_RUN_DIR: path.join(work, 'run'),
  };

  // The app gets its own mount namespace and a tmpfs volume only it can see, like a container.
  const app: ChildProcess = spawn(
    'unshare',
    [
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      `mount -t tmpfs demo-volume "$1" && exec "$2" "$3" "$1"`,
      'sh',
      volume,
      process.execPath,
      APP,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const history: number[] = [];
  // Each stats line covers the second before it arrives: it is labelled with the phase in force at the
  // start of that second, so rows measured before an injection never carry the injection's name.
  const phases: { since: number; name: string }[] = [{ since: 0, name: 'baseline' }];
  const setPhase = (name: string) => phases.push({ since: Date.now(), name });
  const phaseAt = (t: number) => phases.filter((p) => p.since <= t).at(-1)!.name;
  let last: Stats | undefined;
  console.log(`sample app: pid ${app.pid}, volume ${volume} (a tmpfs in its own mount namespace)\n`);
  console.log('  time  phase                    ops/s   p50 ms   p99 ms   errors   latency');
  const started = Date.now();
  readline.createInterface({ input: app.stdout! }).on('line', (line) => {
    try {
      last = JSON.parse(line) as Stats;
    } catch {
      return;
    }
    history.push(last.mean);
    const phase = phaseAt(Date.now() - 1000);
    const t = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
    const err = last.ops ? ((100 * last.errors) / last.ops).toFixed(1) + '%' : '-';
    console.log(
      `  ${t}s  ${phase.padEnd(22)} ${String(last.ops).padStart(6)} ${last.p50.toFixed(2).padStart(8)} ${last.p99.toFixed(2).padStart(8)} ${err.padStart(8)}   ${sparkline(history.slice(-30))}`,
    );
  });

  // Run without blocking, so the app's rows keep printing while the command works. While it runs the
  // rules are changing (an inject turns them on at its end, a recover off at its start): those rows
  // say so; the new phase starts when the command has returned.
  const kubectl = async (phase: string, ...args: string[]) => {
    setPhase(`(${args[0]} running)`);
    const child = spawn(process.execPath, [PLUGIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    setPhase(phase);
    for (const l of out.trim().split('\n')) if (l) console.log(`  $ kubectl iochaos ${args[0]}: ${l}`);
    if (status !== 0) throw new Error(`kubectl iochaos ${args.join(' ')} failed`);
  };

  // The app process itself (unshare execs sh, which execs node: same pid).
  const pid = app.pid!;
  const mountTable = () =>
    fs
      .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
      .split('\n')
      .map((l) => l.split(' ').slice(2).join(' '));
  await sleep(500);
  const mountsBefore = mountTable().join('\n');
  let ok = false;
  try {
    await sleep(4000);
    await kubectl(
      'delay 10ms on 50%',
      'delay',
      `pid/${pid}`,
      '--path',
      volume,
      '--delay',
      '10ms',
      '--percent',
      '50',
    );
    await sleep(7000);
    await kubectl(
      '+ EIO on 10% of writes',
      'fault',
      `pid/${pid}`,
      '--path',
      volume,
      '--errno',
      'EIO',
      '--methods',
      'write',
      '--percent',
      '10',
    );
    await sleep(7000);
    await kubectl('recovered', 'recover', `pid/${pid}`);
    await sleep(4000);

    // Every record the app wrote is there, once, in order, intact.
    const data = fs.readFileSync(`/proc/${pid}/root${volume}/records.log`);
    const count = data.length / RECORD_SIZE;
    let bad = Number.isInteger(count) ? 0 : 1;
    for (let i = 0; i < Math.floor(count); i++) {
      if (!data.subarray(i * RECORD_SIZE, (i + 1) * RECORD_SIZE).equals(record(i))) bad++;
    }
    const mountsSame = mountTable().join('\n') === mountsBefore;
    ok = bad === 0 && count >= (last?.written ?? 0) - 1 && mountsSame;
    console.log(
      bad === 0
        ? `\nall ${count} records the app wrote are intact, in order.`
        : `\nDATA CHECK FAILED: ${bad} bad records of ${count}`,
    );
    console.log(
      mountsSame ? "the app's mount table is as it was before." : 'MOUNT TABLE DIFFERS from before.',
    );
  } finally {
    app.kill('SIGTERM');
    // Stop the demo's own daemon (it recovers anything still on), then remove the demo's files.
    const health = spawnSync(
      process.execPath,
      [path.join(__dirname, '..', '..', 'sidecar', 'cli.js'), 'ctl', '--socket', env.IOCHAOS_SOCKET],
      { input: '{"op":"health"}', encoding: 'utf8' },
    );
    const daemonPid = (JSON.parse(health.stdout || '{}') as { result?: { pid?: number } }).result?.pid;
    if (daemonPid) process.kill(daemonPid, 'SIGTERM');
    await sleep(1000);
    fs.rmSync(work, { recursive: true, force: true });
  }
  process.exit(ok ? 0 : 1);
}

main().catch((err: Error) => {
  console.error(`demo failed: ${err.message}`);
  process.exit(1);
});
