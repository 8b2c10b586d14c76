/**
 * PostgreSQL 15, run as `postgres` in a private mount namespace with its data directory on the
 * volume: a backend per connection, forked by the postmaster, so connections made during the
 * injection are processes (and relation files) that did not exist at inject time. Each case:
 * inject through the real kubectl-iochaos -> work -> recover while connections are open -> the same
 * connections and new ones work -> pgbench counts consistent, pg_amcheck clean, namespace as before.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { mounts } from '../support/mounts';
import { assertRecovered, cli, until, useAppNamespace } from './support';
import {
  assertAmcheckClean,
  assertBalancesConsistent,
  assertPgbenchOk,
  Session,
  startCluster,
  transfer,
  type Cluster,
} from './postgres';

describe('applications: PostgreSQL 15 with pgbench', function () {
  this.timeout(180_000);
  let pg: Cluster | undefined;
  const sessions: Session[] = [];
  const current = useAppNamespace({
    owner: 'postgres',
    failureLog: () => `postgres log:\n${pg?.log().slice(-4000)}`,
  });

  beforeEach(async () => {
    pg = await startCluster(current.ns);
    const init = await pg.pgbench(['-i', '-s', '1', '-q'], 'init');
    assert.equal(init.code, 0, init.out);
  });
  afterEach(() => {
    for (const s of sessions.splice(0)) s.end();
    pg = undefined;
  });

  const session = (name: string) => {
    const s = new Session(pg!.env, name);
    sessions.push(s);
    return s;
  };
  const backendsOf = (app: string) =>
    pg!.sql(`SELECT pid FROM pg_stat_activity WHERE application_name = '${app}'`).map(Number);

  it('a write/fsync delay: backends forked during the injection work across recover, counts consistent, amcheck clean', async () => {
    const { d, ns } = current;
    const before = ns.mountTable();
    const c = pg!;
    const early = session('before');
    await early.query(transfer(1, 10));
    const pidsAtInject = new Set(ns.pids());
    cli(
      d,
      0,
      'delay',
      `pid/${c.postmaster}`,
      '--path',
      ns.volume,
      '--delay',
      '2ms',
      '--methods',
      'write,fsync',
    );

    // New connections: backends forked now, opening relation files on ChaosFS.
    const during = session('during');
    await during.query(transfer(2, 20));
    await during.query('CREATE TABLE made_during AS SELECT g AS n FROM generate_series(1, 5000) g');
    await early.query(transfer(3, 30));
    const load = c.pgbench(['-n', '-c', '3', '-j', '1', '-t', '150'], 'load-during');
    await until('pgbench connected during the injection', () => backendsOf('load-during').length === 3);
    const duringBackends = [...backendsOf('during'), ...backendsOf('load-during')];
    assert.ok(
      duringBackends.every((p) => !pidsAtInject.has(p)),
      'the backends of connections made during the injection are new processes',
    );
    await until(
      'pgbench committed under the delay',
      () => Number(c.sql('SELECT count(*) FROM pgbench_history')[0]) > 40,
    );

    const chaosfs = mounts(ns.pid).find((m) => m.fstype === 'fuse.chaosfs' && m.mountpoint === ns.volume);
    assert.ok(chaosfs, 'ChaosFS is mounted over the volume');
    const onChaosFs = (pid: number) =>
      fs
        .readdirSync(`/proc/${pid}/fdinfo`)
        .some((fd) =>
          fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').includes(`mnt_id:\t${chaosfs.id}\n`),
        );
    assert.ok(
      onChaosFs(backendsOf('during')[0]!),
      'the backend forked during the injection has files on ChaosFS',
    );
    cli(d, 0, 'recover', `pid/${c.postmaster}`);
    const stillConnected = backendsOf('during');
    assert.equal(stillConnected.length, 1, 'the session made during the injection is connected');
    assertRecovered(ns, before, d.dir);

    // The same backends go on: their cached relation fds must be on the volume (ENOTCONN otherwise).
    await during.query(transfer(4, 40));
    assert.deepEqual(
      await during.query('INSERT INTO made_during VALUES (0); SELECT count(*) FROM made_during'),
      ['INSERT 0 1', '5001'],
    );
    await early.query(transfer(5, 50));
    assertPgbenchOk('pgbench connected during the injection', await load);
    assertPgbenchOk(
      'pgbench after recovery',
      await c.pgbench(['-n', '-c', '2', '-j', '1', '-t', '100'], 'after'),
    );
    assert.deepEqual(
      backendsOf('during'),
      stillConnected,
      'the session made during the injection lived through it all',
    );

    c.sql('CHECKPOINT');
    assertBalancesConsistent(c);
    assertAmcheckClean(c);
    assert.doesNotMatch(
      c.log(),
      /not connected|could not (seek|read|write|fsync)/i,
      'no I/O error in the server log',
    );
    assertRecovered(ns, before, d.dir);
  });

  it('an fsync EIO makes PostgreSQL PANIC and restart its children during the injection: recover puts the new ones back', async () => {
    const { d, ns } = current;
    const before = ns.mountTable();
    const c = pg!;
    const postmaster = c.postmaster;
    const childrenBefore = c.children();
    assert.ok(childrenBefore.length >= 4, `the postmaster has its children (${childrenBefore})`);
    const early = session('before-panic');
    await early.query(transfer(1, 10));
    // The first fsync or fdatasync fails: the next commit's WAL flush, which PostgreSQL answers with a PANIC.
    cli(
      d,
      0,
      'fault',
      `pid/${postmaster}`,
      '--path',
      ns.volume,
      '--errno',
      'EIO',
      '--methods',
      'fsync',
      '--times',
      '1',
    );
    await assert.rejects(
      early.query(transfer(2, 20)),
      /terminat|PANIC|server closed|connection/i,
      'the commit fails',
    );
    await until(
      'the postmaster reinitialized after the PANIC',
      () => /all server processes terminated; reinitializing/.test(c.log()),
      40_000,
    );
    await until('PostgreSQL accepts connections again', () => c.ready(), 60_000);
    assert.match(c.log(), /PANIC/);
    assert.ok(
      c.children().every((p) => !childrenBefore.includes(p)),
      `every child of the postmaster was forked during the injection (${childrenBefore} -> ${c.children()})`,
    );

    const during = session('after-panic');
    await during.query(transfer(3, 30));
    cli(d, 0, 'recover', `pid/${postmaster}`);
    assert.equal(c.postmaster, postmaster, 'the postmaster itself lived on');
    assertRecovered(ns, before, d.dir);

    await during.query(transfer(4, 40));
    assertPgbenchOk(
      'pgbench after recovery',
      await c.pgbench(['-n', '-c', '2', '-j', '1', '-t', '100'], 'after'),
    );
    assertBalancesConsistent(c);
    assertAmcheckClean(c);
    // And a clean restart after it all: the data directory comes up and is still sound.
    during.end();
    await c.stop();
    await c.start();
    assertBalancesConsistent(c);
    assertAmcheckClean(c);
    assert.doesNotMatch(c.log(), /not connected/i);
    assertRecovered(ns, before, d.dir);
  });
});
