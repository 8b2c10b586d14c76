/**
 * The daemon's inject and recover sequence, its rollback, and its recovery from the journal after a
 * crash at each step — against fake steps (fake-steps.unit.ts): no root, no /dev/fuse, in seconds.
 * The root suites (test/daemon/) check the same against real mounts and real processes.
 *
 * The target is a `sleep` in the test's own mount namespace (hence allInNamespace): the fake steps
 * never touch it, they only record which processes would be on ChaosFS.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseControlRequest, type ControlRequest } from '../api/control';
import { request } from '../control/client';
import { Daemon } from './daemon';
import { FakeSteps, FakeWorld, type Trouble } from './fake-steps.unit';
import { Journal } from './journal';

/** Polls `check` until it holds (what a step does happens in its own time, not at a fixed moment). */
async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (check()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** Alive, even if another user's (EPERM): what a swapped process must not be while on ChaosFS. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

describe('daemon, against fake steps', () => {
  let dir: string;
  let volume: string;
  let target: ChildProcess;
  let world: FakeWorld;
  const daemons: Daemon[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-daemon-unit-'));
    volume = path.join(dir, 'volume');
    fs.mkdirSync(volume);
    target = spawn('sleep', ['1000'], { stdio: 'ignore' });
    world = new FakeWorld();
  });

  afterEach(async () => {
    // A crashed daemon's injection is left to the restarted one; shutdown recovers what is still on.
    await Promise.all(daemons.splice(0).map((d) => d.shutdown()));
    for (const pid of world.workers) process.kill(pid, 'SIGKILL');
    await until('every fake worker exited', () => world.workers.size === 0);
    target.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const daemon = (steps: FakeSteps, keep = true) => {
    const d = new Daemon({
      stateDir: path.join(dir, 'state'),
      runDir: path.join(dir, 'run'),
      steps,
      log: () => {},
    });
    if (keep) daemons.push(d);
    return d;
  };
  const req = (r: Record<string, unknown>): ControlRequest => parseControlRequest({ version: 1, ...r });
  const inject = (d: Daemon) =>
    d.handle(
      req({
        op: 'inject',
        target: { pid: target.pid },
        volumePath: volume,
        rules: [{ action: 'latency', delay: '1ms', id: 'slow' }],
        allInNamespace: true,
      }),
    ) as Promise<{ id: string; state: string }>;
  const recover = (d: Daemon) => d.handle(req({ op: 'recover', target: { pid: target.pid } }));

  /** What the journal says of each injection now. */
  const journaled = () => {
    const j = new Journal(path.join(dir, 'state'));
    const steps = j.replay().map((r) => r.step);
    j.close();
    return steps;
  };

  /** Everything put back: no ChaosFS mount, no live process on one, no worker, no staging dir. */
  function assertRecovered(): void {
    assert.deepEqual([...world.mounts.keys()], [], 'no ChaosFS mount is left attached');
    assert.deepEqual([...world.onFuse.keys()].filter(alive), [], 'no process is left on ChaosFS');
    assert.deepEqual(world.running(), [], 'the worker was stopped');
    const staging = path.join(dir, 'run', 'staging');
    assert.deepEqual(
      fs.existsSync(staging) ? fs.readdirSync(staging) : [],
      [],
      'the staging dir was removed',
    );
    // A restarted daemon compacts the journal, dropping what it recovered.
    assert.deepEqual(
      journaled().filter((step) => step !== 'recovered'),
      [],
      'the journal has nothing open',
    );
  }

  it('injects in order (worker, attach, fds in, rules on) and recovers in reverse', async () => {
    const d = daemon(new FakeSteps(world));
    const injected = await inject(d);
    assert.equal(injected.state, 'active');
    assert.deepEqual(world.log, ['startWorker (rules: -)', 'attach (rules: 0)', 'swapIn (rules: 0)']);
    assert.equal(world.onFuse.get(target.pid!), [...world.mounts.keys()][0], 'the target is on ChaosFS');
    const socket = fs.readdirSync(path.join(dir, 'run', 'workers'))[0];
    const rules = await request<{ rules: { id: string }[] }>(path.join(dir, 'run', 'workers', socket), {
      op: 'rules.list',
    });
    assert.deepEqual(rules.ok && rules.result.rules.map((r) => r.id), ['slow'], 'the rule is on at the end');

    world.log.length = 0;
    await recover(d);
    assert.deepEqual(world.log, ['detach (rules: 0)', 'swapOut (rules: 0)', 'unmountStaging (rules: -)']);
    assertRecovered();
  });

  const failures: [string, (s: FakeSteps) => void, string[]][] = [
    [
      'the worker does not start',
      (s) => (s.trouble = { step: 'startWorker', how: 'throw' }),
      ['unmountStaging'],
    ],
    [
      'attach fails',
      (s) => (s.trouble = { step: 'attach', how: 'throw' }),
      ['startWorker', 'unmountStaging'],
    ],
    [
      'the fd swap fails',
      (s) => (s.trouble = { step: 'swapIn', how: 'throw' }),
      ['startWorker', 'attach', 'detach', 'swapOut', 'unmountStaging'],
    ],
    [
      'a process cannot be swapped',
      (s) => (s.swapFailures = ['pid 1: no']),
      ['startWorker', 'attach', 'swapIn', 'detach', 'swapOut', 'unmountStaging'],
    ],
  ];
  for (const [what, fail, taken] of failures) {
    it(`rolls the injection back when ${what}`, async () => {
      const steps = new FakeSteps(world);
      fail(steps);
      await assert.rejects(inject(daemon(steps)), /failed and was rolled back/);
      const stepsTaken = world.log.map((l) => l.split(' ')[0]);
      assert.deepEqual(stepsTaken, taken);
      assertRecovered();
    });
  }

  /** Injects (and recovers, with `recovering`), crashing at `trouble`; a new daemon recovers from the journal. */
  async function crashAndRestart(trouble: Trouble | 'active', recovering = false): Promise<void> {
    const first = new FakeSteps(world);
    const d1 = daemon(first, false);
    if (recovering) {
      await inject(d1);
      if (trouble !== 'active') first.trouble = trouble;
      void recover(d1);
    } else if (trouble === 'active') {
      await inject(d1);
    } else {
      first.trouble = trouble;
      void inject(d1);
    }
    if (trouble === 'active') first.crash();
    await until('the first daemon crashed', () => first.crashed);
    const stepsBefore = journaled();
    assert.equal(stepsBefore.length, 1);
    assert.notEqual(stepsBefore[0], 'recovered', 'the journal says the injection is still on');

    const d2 = daemon(new FakeSteps(world));
    assert.equal(await d2.recoverLeftovers(), 1, 'the restarted daemon finds it in the journal');
    assertRecovered();
  }

  const crashes: [string, Trouble | 'active'][] = [
    ['before attaching', { step: 'attach', how: 'hang' }],
    ['before swapping fds in', { step: 'swapIn', how: 'hang' }],
    ['after swapping fds in, before the rules are on', { step: 'swapIn', how: 'hang', after: true }],
    ['once active', 'active'],
  ];
  for (const [when, trouble] of crashes) {
    it(`after a crash ${when}, a restarted daemon recovers from the journal`, () => crashAndRestart(trouble));
  }

  const recoveryCrashes: [string, Trouble][] = [
    ['before detaching', { step: 'detach', how: 'hang' }],
    ['after detaching', { step: 'detach', how: 'hang', after: true }],
    ['after swapping fds back', { step: 'swapOut', how: 'hang', after: true }],
    ['before unmounting the staging mount', { step: 'unmountStaging', how: 'hang' }],
  ];
  for (const [when, trouble] of recoveryCrashes) {
    it(`after a crash during recovery ${when}, a restarted daemon finishes it`, () =>
      crashAndRestart(trouble, true));
  }

  it('recovers on its own when the worker dies', async () => {
    const d = daemon(new FakeSteps(world));
    await inject(d);
    process.kill([...world.workers][0], 'SIGKILL');
    await until('the injection is recovered', () => journaled()[0] === 'recovered');
    assertRecovered();
    assert.ok(world.log.includes('swapOut (rules: -)'), 'the fds were swapped back through the daemon fd');
  });

  it('after a crash with the worker dead too, swaps back beneath the target root', async () => {
    const first = new FakeSteps(world);
    await inject(daemon(first, false));
    first.crash();
    process.kill([...world.workers][0], 'SIGKILL');
    await until('the worker is gone', () => world.workers.size === 0);
    const d2 = daemon(new FakeSteps(world));
    assert.equal(await d2.recoverLeftovers(), 1);
    assertRecovered();
  });
});
