/**
 * The whole loop on real targets, through the real `kubectl-iochaos` command: a running process in its
 * own mount namespace sees the faults on files it opened before the injection, then sees none after
 * recovery, with its data intact and its mount table as before.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { requireRootAndFuse } from '../support/root';
import { testDaemon, type TestDaemon } from '../support/daemon';
import { startTarget, type Target } from '../support/target';
import { fdMountId } from '../support/fdinfo';

describe('chaosfs daemon and kubectl-iochaos on local processes', () => {
  let d: TestDaemon;
  let t: Target | undefined;

  beforeEach(async () => {
    requireRootAndFuse();
    d = testDaemon();
    await d.start();
  });
  afterEach(async () => {
    await t?.kill();
    t = undefined;
    await d.cleanup();
  });

  it('injects into a running process, which sees the faults on fds it already had, and recovers', async () => {
    t = await startTarget();
    const before = t.mountTable();
    const heldMount = fdMountId(t.pid, '/held.dat');
    assert.equal((await t.ask({ op: 'append', data: 'record-1' })).ok, true);

    const inject = d.cli(
      'delay',
      `pid/${t.pid}`,
      '--path',
      t.volume,
      '--delay',
      '300ms',
      '--methods',
      'read',
    );
    assert.equal(inject.status, 0, inject.stderr);
    assert.match(inject.stdout, new RegExp(`pid/${t.pid}: injected delay 300ms`));
    assert.notEqual(fdMountId(t.pid, '/held.dat'), heldMount, 'the open fd was moved onto ChaosFS');
    const slow = await t.ask({ op: 'readHeld' });
    assert.equal(slow.value, 'held data');
    assert.ok(slow.ms >= 300, `a read on an fd opened before the injection was delayed (${slow.ms} ms)`);

    const fault = d.cli('fault', `pid/${t.pid}`, '--path', t.volume, '--errno', 'EIO', '--methods', 'write');
    assert.equal(fault.status, 0, fault.stderr);
    assert.match(fault.stdout, /added errno EIO/);
    assert.equal((await t.ask({ op: 'append', data: 'lost' })).code, 'EIO');

    const status = d.cli('status', '-o', 'json');
    const injections = JSON.parse(status.stdout)[0].result.injections;
    assert.equal(injections.length, 1);
    assert.equal(injections[0].rules.length, 2);
    assert.ok(injections[0].rules[0].injected >= 1, 'counters count');

    const recover = d.cli('recover', `pid/${t.pid}`);
    assert.equal(recover.status, 0, recover.stderr);
    assert.match(recover.stdout, /recovered/);
    assert.equal(fdMountId(t.pid, '/held.dat'), heldMount, 'the fd is back on the original volume');
    // No rule reaches the fd any more (it is back on the original mount, checked above): it reads.
    assert.equal((await t.ask({ op: 'readHeld' })).value, 'held data');
    assert.equal((await t.ask({ op: 'append', data: 'record-2' })).ok, true);
    assert.deepEqual(t.mountTable(), before, 'the mount table is as it was');
    assert.equal(
      t.read(`${t.volume}/log.txt`),
      'record-1\nrecord-2\n',
      'every record written is there, once',
    );
  });

  it('recovers by itself when --duration ends', async () => {
    t = await startTarget();
    const before = t.mountTable();
    const r = d.cli('fault', `pid/${t.pid}`, '--path', t.volume, '--errno', 'EIO', '--duration', '1500ms');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /recovers in 1500ms/);
    assert.equal((await t.ask({ op: 'read', file: 'held.dat' })).code, 'EIO');
    for (let i = 0; i < 100 && JSON.stringify(t.mountTable()) !== JSON.stringify(before); i++)
      await sleep(100);
    assert.deepEqual(t.mountTable(), before);
    assert.equal((await t.ask({ op: 'read', file: 'held.dat' })).value, 'held data');
    const empty = d.cli('status');
    assert.equal(empty.stdout, '');
    assert.match(empty.stderr, /No injections found/);
  });

  it('injects two volumes of one process at once, and recovers them separately', async () => {
    t = await startTarget({ volumes: ['a', 'b'] });
    const second = t.volume.replace(/a$/, 'b');
    const before = t.mountTable();
    const first = d.cli('fault', `pid/${t.pid}`, '--path', t.volume, '--errno', 'EIO');
    assert.equal(first.status, 0, first.stderr);
    const r = d.cli('fault', `pid/${t.pid}`, '--path', second, '--errno', 'ENOSPC', '--methods', 'write');
    assert.equal(r.status, 0, r.stderr);
    assert.equal((await t.ask({ op: 'read', file: 'held.dat' })).code, 'EIO');
    assert.equal((await t.ask({ op: 'write', file: `../b/x`, data: 'x' })).code, 'ENOSPC');
    const one = d.cli('recover', `pid/${t.pid}`, '--path', t.volume);
    assert.equal(one.status, 0, one.stderr);
    assert.equal((await t.ask({ op: 'read', file: 'held.dat' })).value, 'held data');
    assert.equal(
      (await t.ask({ op: 'write', file: `../b/x`, data: 'x' })).code,
      'ENOSPC',
      'b is still injected',
    );
    const rest = d.cli('recover', `pid/${t.pid}`);
    assert.equal(rest.status, 0, rest.stderr);
    assert.deepEqual(t.mountTable(), before);
  });

  it('says clearly when there is nothing to recover, or the target or path does not exist', async () => {
    t = await startTarget();
    const none = d.cli('recover', `pid/${t.pid}`);
    assert.equal(none.status, 3, 'not found: exit 3');
    assert.match(none.stderr, new RegExp(`pid/${t.pid} is not injected: nothing to recover`));
    const gone = d.cli('delay', 'pid/999999', '--path', '/data', '--delay', '1ms');
    assert.equal(gone.status, 3);
    assert.match(gone.stderr, /process 999999 does not exist/);
    const noPath = d.cli('delay', `pid/${t.pid}`, '--path', '/no/such/dir', '--delay', '1ms');
    assert.equal(noPath.status, 3);
    assert.match(noPath.stderr, /\/no\/such\/dir does not exist in the target/);
    const badRule = d.cli('delay', `pid/${t.pid}`, '--path', t.volume, '--delay', '1ms', '--percent', '130');
    assert.equal(badRule.status, 2, 'bad input: exit 2, nothing sent');
    assert.match(badRule.stderr, /--percent/);
  });
});
