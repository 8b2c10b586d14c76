/**
 * Fake injection steps for the daemon's unit tests: no root, no /dev/fuse, no ptrace.
 *
 * The "kernel" is a small model (FakeWorld): ChaosFS mounts attached over a volume, and which
 * processes have their fds on one. The worker is a real child process (this file run as a script)
 * that answers the real control protocol with the real worker handler and rule set, only without
 * FUSE: so the daemon's worker requests, its pid and start-time checks, SIGTERM on stop and a worker
 * that dies are all the real thing.
 *
 * A daemon "crashes" with `steps.crash()`: from then on every step it starts never returns and it
 * hears of no worker exit, as if its process were gone; a new Daemon with new steps over the same
 * world and state dir is the restarted one.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from '../control/client';
import { answer } from '../control/server';
import { workerHandler } from '../chaosfs/control';
import { openDirInRoot } from '../chaosfs/syscalls';
import { RuleSet } from '../faults/rule-set';
import { mountIdOfFd } from './holders';
import type { Attached, InjectionSteps, SwapSummary } from './steps';
import { startTimeOf, type StartedWorker, type WorkerOptions } from './worker';

export type StepName = 'startWorker' | 'attach' | 'swapIn' | 'swapOut' | 'detach' | 'unmountStaging';

interface FakeMount {
  mntId: number;
  belowMntId: number;
  nsPid: number;
  volumePath: string;
  staging: string;
}

/** What the fake kernel holds, shared by a daemon and the one restarted after it. */
export class FakeWorld {
  /** ChaosFS mounts attached over a volume, by mount id. */
  readonly mounts = new Map<number, FakeMount>();
  /** Processes with fds on a ChaosFS mount, and on which. */
  readonly onFuse = new Map<number, number>();
  /** Every step taken, in order, with what the worker's rules were at that moment. */
  readonly log: string[] = [];
  /** Fake workers started and not yet reaped (a stopped one may still be a zombie for a moment). */
  readonly workers = new Set<number>();

  /** The workers still running: a zombie is not. */
  running(): number[] {
    return [...this.workers].filter((pid) => startTimeOf(pid) !== undefined);
  }
  private nextMntId = 9000;

  /** A ChaosFS mount over the volume: a made-up id, over the volume's real mount. */
  newMount(m: Omit<FakeMount, 'mntId' | 'belowMntId'>): FakeMount {
    const fd = openDirInRoot(`/proc/${m.nsPid}/root`, m.volumePath);
    const belowMntId = mountIdOfFd(fd)!;
    fs.closeSync(fd);
    const mount = { ...m, mntId: this.nextMntId++, belowMntId };
    this.mounts.set(mount.mntId, mount);
    return mount;
  }
}

/** Where a step goes wrong: `throw` fails it, `hang` (with `after`: once it took effect) crashes there. */
export interface Trouble {
  step: StepName;
  how: 'throw' | 'hang';
  after?: boolean;
}

const NONE: SwapSummary = { swapped: 0, skipped: 0, maxPauseUs: 0, failed: [] };

export class FakeSteps implements InjectionSteps {
  trouble?: Trouble;
  /** What a swap reports as failed (a process that could not be swapped). */
  swapFailures: string[] = [];
  private down = false;
  private worker?: { socket: string };

  constructor(readonly world: FakeWorld) {}

  /** The daemon's process is gone: nothing it started returns, it hears no worker exit. */
  crash(): void {
    this.down = true;
  }

  get crashed(): boolean {
    return this.down;
  }

  /** Runs a step's effect, with the trouble asked for, and logs it with the worker's rules then. */
  private async step<T>(name: StepName, effect: () => T): Promise<T> {
    if (this.down) return new Promise<T>(() => {});
    const t = this.trouble?.step === name ? this.trouble : undefined;
    if (t?.how === 'throw') throw new Error(`fake ${name} failed`);
    if (t?.how === 'hang' && !t.after) return this.hang<T>();
    const result = effect();
    this.world.log.push(`${name} (rules: ${await this.activeRules()})`);
    return t?.how === 'hang' ? this.hang<T>() : result;
  }

  private hang<T>(): Promise<T> {
    this.crash();
    return new Promise<T>(() => {});
  }

  /** How many rules the injection's worker has now ('-' with no worker to ask). */
  private async activeRules(): Promise<string> {
    if (!this.worker) return '-';
    const reply = await request<{ rules: unknown[] }>(this.worker.socket, { op: 'rules.list' }).catch(
      () => undefined,
    );
    return reply?.ok ? String(reply.result.rules.length) : '-';
  }

  async startWorker(opts: WorkerOptions): Promise<StartedWorker> {
    const worker = await this.step('startWorker', () =>
      startFakeWorker(opts, this.world, () => this.crashed),
    );
    this.worker = { socket: opts.socket };
    return worker;
  }

  attach(nsPid: number, volumePath: string, staging: string): Promise<Attached> {
    return this.step('attach', () => {
      const m = this.world.newMount({ nsPid, volumePath, staging });
      return { mntId: m.mntId, belowMntId: m.belowMntId };
    });
  }

  swapIn(pids: number[], volumePath: string, fromMntId: number): Promise<SwapSummary> {
    return this.step('swapIn', () => {
      const m = [...this.world.mounts.values()].find((x) => x.volumePath === volumePath);
      if (!m || m.belowMntId !== fromMntId)
        throw new Error(`swapIn from mount ${fromMntId}, not the one below`);
      if (this.swapFailures.length > 0) return { ...NONE, failed: this.swapFailures };
      for (const p of pids) this.world.onFuse.set(p, m.mntId);
      return { ...NONE, swapped: pids.length };
    });
  }

  swapOut(pids: number[], volumePath: string, fuseMntId: number, originalRoot: string): Promise<SwapSummary> {
    return this.step('swapOut', () => {
      // The original must be the volume itself (the daemon's fd of it, or the worker's).
      const [a, b] = [fs.statSync(originalRoot), fs.statSync(volumePath)];
      if (a.dev !== b.dev || a.ino !== b.ino) throw new Error(`${originalRoot} is not ${volumePath}`);
      let swapped = 0;
      for (const p of pids) {
        if (this.world.onFuse.get(p) !== fuseMntId) continue;
        this.world.onFuse.delete(p);
        swapped++;
      }
      return { ...NONE, swapped };
    });
  }

  detach(_nsPid: number, _volumePath: string, fuseMntId: number): Promise<void> {
    return this.step('detach', () => void this.world.mounts.delete(fuseMntId));
  }

  unmountStaging(staging: string): Promise<void> {
    return this.step('unmountStaging', () => fs.rmSync(staging, { recursive: true, force: true }));
  }
}

/** A fake worker process, and an `exited` that a crashed daemon never hears of. */
async function startFakeWorker(
  opts: WorkerOptions,
  world: FakeWorld,
  crashed: () => boolean,
): Promise<StartedWorker> {
  fs.mkdirSync(opts.staging, { recursive: true, mode: 0o700 });
  fs.mkdirSync(path.dirname(opts.socket), { recursive: true, mode: 0o700 });
  const log = fs.openSync(opts.logFile, 'a', 0o600);
  const child = spawn(process.execPath, [__filename, '--source', opts.source, '--control', opts.socket], {
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  world.workers.add(child.pid!);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      world.workers.delete(child.pid!);
      if (!crashed()) resolve(code ?? -1);
    }),
  );
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the fake worker exited (${child.exitCode})`);
    const health = await request(opts.socket, { op: 'health' }).catch(() => undefined);
    if (health?.ok) return { pid: child.pid!, child, exited };
    await sleep(10);
  }
}

/**
 * The worker: the real handler and rule set on the control socket, without FUSE. Its backing root is
 * its own O_PATH fd of the source, as the real worker's.
 */
function runFakeWorker(source: string, socket: string): void {
  const rootFd = fs.openSync(source, fs.constants.O_DIRECTORY | 0o10000000 /* O_PATH */);
  // No kernel caches to settle and no native counters without FUSE.
  const handler = workerHandler({
    rules: new RuleSet(),
    backingRoot: `/proc/self/fd/${rootFd}`,
    settled: async () => {},
    refreshCounts: () => {},
  });
  const server = net.createServer({ allowHalfOpen: true }, (conn) => {
    let text = '';
    conn.setEncoding('utf8');
    conn.on('data', (d: string) => (text += d));
    conn.on('end', () => void answer(text, handler).then((reply) => conn.end(JSON.stringify(reply) + '\n')));
  });
  server.listen(socket);
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

// Argv as the real worker's (`--source S --control C`): isWorker knows a worker by its `--control`.
if (require.main === module) runFakeWorker(process.argv[3], process.argv[5]);
