/**
 * Daemon paths no other test reaches: recovery once every process of the target is gone, rollback of
 * an injection that failed part-way, a crash in the window where the mount's id is not journaled yet
 * (findFuseMount), a torn last journal line, and a pid target whose namespace holds several processes.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requireRootAndFuse } from '../support/root';
import { testDaemon, type TestDaemon } from '../support/daemon';
import { startTarget, type Target } from '../support/target';
import { noChaosFsMountsIn } from '../support/mounts';
import { until } from '../support/until';
import { fdMountId } from '../support/fdinfo';

/** The journal's lines, parsed (a torn one as null). */
function journalLines(d: TestDaemon): (Record<string, unknown> | null)[] {
  return fs
    .readFileSync(path.join(d.dir, 'state', 'journal.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return null;
      }
    });
}

/** Workers of this daemon still running (they run in their own sessions, so the daemon's exit is not theirs). */
const workersOf = (d: TestDaemon) =>
  spawnSync('pgrep', ['-f', '--', `--control ${path.join(d.dir, 'run')}`], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean);

describe('daemon paths reached by nothing else', () => {
  let d: TestDaemon;
  let t: Target | undefined;
  const extra: ChildProcess[] = [];

  beforeEach(() => {
    requireRootAndFuse();
    d = testDaemon();
  });
  afterEach(async () => {
    for (const p of extra.splice(0)) p.kill('SIGKILL');
    await t?.kill();
    t = undefined;
    await d.cleanup();
  });

  const delay = (target: Target) => [
    'delay',
    `pid/${target.pid}`,
    '--path',
    target.volume,
    '--delay',
    '20ms',
  ];

  it('recovers by itself when every process of the target has exited, and closes the journal entry', async () => {
    t = await startTarget();
    await d.start();
    assert.equal(d.cli(...delay(t)).status, 0);
    assert.equal(workersOf(d).length, 1, 'one worker serves the injection');
    const id = (journalLines(d)[0] as { id: string }).id;
    await t.kill();
    t = undefined;
    await until('the watchdog recovered the injection', () =>
      d.log().includes('"reason":"no process of the target is left"'),
    );
    await until('the recovery finished', () => d.log().includes(`"event":"recovered","id":"${id}"`));
    assert.equal(JSON.parse(d.cli('status', '-o', 'json').stdout)[0].result.injections.length, 0);
    assert.ok(noChaosFsMountsIn('self', d.dir), 'no staging mount is left');
    await until('the worker stopped', () => workersOf(d).length === 0);
    const last = journalLines(d)
      .filter((l) => l?.id === id)
      .at(-1);
    assert.equal(last?.step, 'recovered', 'the journal closes the injection');
  });

  for (const point of ['inject:attached', 'inject:swapped']) {
    it(`rolls back an injection that fails at ${point}: the app keeps its files, no mount is left`, async () => {
      t = await startTarget();
      const before = t.mountTable();
      const held = fdMountId(t.pid, '/held.dat');
      assert.equal((await t.ask({ op: 'append', data: 'before' })).ok, true);
      await d.start({ IOCHAOS_FAILPOINT: `${point}=error` });
      const r = d.cli(...delay(t));
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /failed and was rolled back/);
      assert.equal(fdMountId(t.pid, '/held.dat'), held, 'the held fd is on the original volume');
      assert.deepEqual(t.mountTable(), before, 'the target mount table is as before');
      assert.ok(noChaosFsMountsIn('self', d.dir), 'no staging mount is left');
      assert.equal(workersOf(d).length, 0, 'the worker was stopped');
      assert.equal(JSON.parse(d.cli('status', '-o', 'json').stdout)[0].result.injections.length, 0);
      assert.equal((await t.ask({ op: 'append', data: 'after' })).ok, true);
      assert.equal((await t.ask({ op: 'readHeld' })).value, 'held data');
      assert.equal(t.read(`${t.volume}/log.txt`), 'before\nafter\n');
    });
  }

  it('after a crash before the mount id was journaled, finds the ChaosFS mount and takes it off', async () => {
    t = await startTarget();
    const before = t.mountTable();
    await d.start({ IOCHAOS_FAILPOINT: 'inject:mounted' });
    d.cliInBackground(...delay(t));
    await until('the daemon attached the mount', () => d.log().includes('"name":"inject:mounted"'));
    await d.kill();
    assert.ok(!noChaosFsMountsIn(t.pid), 'ChaosFS is on the volume');
    assert.ok(
      journalLines(d).every((l) => l?.fuseMntId === undefined),
      'the journal has no mount id to go by',
    );
    await d.start();
    await until('the restarted daemon recovered', () => d.log().includes('"event":"recovered-leftovers"'));
    assert.deepEqual(t.mountTable(), before, 'the mount found by its place was detached');
    assert.ok(noChaosFsMountsIn('self', d.dir));
    assert.equal((await t.ask({ op: 'readHeld' })).value, 'held data');
  });

  it('ignores a torn last journal line and replays the lines before it', async () => {
    t = await startTarget();
    const before = t.mountTable();
    const held = fdMountId(t.pid, '/held.dat');
    await d.start({ IOCHAOS_FAILPOINT: 'inject:swapped' });
    d.cliInBackground(...delay(t));
    await until('the daemon swapped the fds', () => d.log().includes('"name":"inject:swapped"'));
    await d.kill();
    const id = (journalLines(d)[0] as { id: string }).id;
    // The crash hit in the middle of writing the next line: a line that claims recovery, cut short.
    fs.appendFileSync(path.join(d.dir, 'state', 'journal.jsonl'), `{"id":"${id}","step":"recove`);
    assert.notEqual(fdMountId(t.pid, '/held.dat'), held, 'the fd is on ChaosFS');
    await d.start();
    await until('the restarted daemon recovered', () => d.log().includes('"event":"recovered-leftovers"'));
    assert.match(d.log(), new RegExp(`"event":"recovering-leftover","id":"${id}","step":"swapped"`));
    assert.equal(fdMountId(t.pid, '/held.dat'), held, 'the fd is back on the original volume');
    assert.deepEqual(t.mountTable(), before);
    assert.deepEqual(journalLines(d), [], 'compaction dropped the recovered injection and the torn line');
  });

  it('a pid target covers every process of its namespace: all are swapped, and all come back', async () => {
    t = await startTarget();
    // Two more processes in the target's mount namespace: one holding a file of the volume, one
    // whose working directory is in it.
    const inNs = (script: string) => {
      const p = spawn('nsenter', ['-t', String(t!.pid), '-m', 'sh', '-c', script], { stdio: 'ignore' });
      extra.push(p);
      return p.pid!;
    };
    const holder = inNs(`exec 3<'${t.volume}/held.dat'; exec sleep 600`);
    const dweller = inNs(`cd '${t.volume}' && exec sleep 600`);
    await until('the helpers are ready', () => {
      try {
        fdMountId(holder, '/held.dat');
        return fs.readlinkSync(`/proc/${dweller}/cwd`) === t!.volume;
      } catch {
        return false;
      }
    });
    const cwdDev = () => fs.statSync(`/proc/${dweller}/cwd`).dev;
    const original = { app: fdMountId(t.pid, '/held.dat'), holder: fdMountId(holder, '/held.dat') };
    const dev = cwdDev();
    await d.start();
    const r = d.cli(...delay(t));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /3 processes/);
    assert.notEqual(fdMountId(t.pid, '/held.dat'), original.app, 'the named process is on ChaosFS');
    assert.notEqual(fdMountId(holder, '/held.dat'), original.holder, 'the other holder is on ChaosFS');
    assert.notEqual(cwdDev(), dev, 'the working directory is on ChaosFS');
    assert.equal(d.cli('recover', `pid/${t.pid}`).status, 0);
    assert.equal(fdMountId(t.pid, '/held.dat'), original.app);
    assert.equal(fdMountId(holder, '/held.dat'), original.holder);
    assert.equal(cwdDev(), dev);
  });
});
