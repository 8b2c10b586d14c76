/**
 * A PostgreSQL 15 cluster for the application suite: data directory on the namespace's volume, run
 * as the `postgres` user inside the namespace, reachable only through a unix socket in a host
 * directory (no TCP port: other tests run at the same time). Clients (psql, pgbench) run on the host.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, lines, until, type Namespace } from './support';

const BIN = '/usr/lib/postgresql/15/bin';

/** An interactive psql session: one backend for its whole life, asked one statement at a time. */
export class Session {
  private out = '';
  private err = '';
  private readonly child: ChildProcess;
  private seq = 0;

  constructor(env: NodeJS.ProcessEnv, name: string) {
    this.child = spawn(`${BIN}/psql`, ['-X', '-At', '-d', 'postgres'], {
      env: { ...env, PGAPPNAME: name },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (b) => (this.out += b));
    this.child.stderr!.on('data', (b) => (this.err += b));
  }

  /** Runs `sql`; resolves with its output lines, rejects with psql's error output. */
  async query(sql: string): Promise<string[]> {
    const marker = `--done-${++this.seq}--`;
    const start = this.out.length;
    const errStart = this.err.length;
    // A statement without its semicolon would wait in psql's buffer and join the next one.
    const statement = sql.trim().endsWith(';') ? sql : `${sql};`;
    this.child.stdin!.write(`${statement}\n\\echo ${marker}\n`);
    await until(
      `psql answers ${sql.slice(0, 60)}`,
      () => this.out.includes(marker, start) || this.child.exitCode !== null,
      40_000,
    );
    const err = this.err.slice(errStart);
    if (err.trim() !== '' || this.child.exitCode !== null) throw new Error(`${sql}: ${err || 'psql exited'}`);
    return this.out.slice(start, this.out.indexOf(marker, start)).split('\n').filter(Boolean);
  }

  end(): void {
    this.child.kill('SIGKILL');
  }
}

export interface Cluster {
  env: NodeJS.ProcessEnv;
  postmaster: number;
  log(): string;
  /** psql -c, failing the test on an error. */
  sql(query: string): string[];
  pgbench(args: string[], appName: string): Promise<{ code: number | null; out: string }>;
  /** The postmaster's children now. */
  children(): number[];
  ready(): boolean;
  /** Fast shutdown; resolves once the postmaster is gone. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startCluster(ns: Namespace): Promise<Cluster> {
  const data = path.join(ns.volume, 'pgdata');
  const sock = path.join(ns.outside, 'sock');
  const logFile = path.join(ns.outside, 'postgres.log');
  fs.mkdirSync(sock, { mode: 0o777 });
  fs.chmodSync(sock, 0o777);
  const port = await freePort();
  const env = { ...process.env, PGHOST: sock, PGPORT: String(port), PGUSER: 'postgres' };
  const init = ns.run(`${BIN}/initdb -D ${data} -U postgres -A trust --no-sync >>${logFile} 2>&1`, {
    user: 'postgres',
  });
  assert.equal(init.status, 0, `initdb: ${fs.readFileSync(logFile, 'utf8')}`);
  const settings = [
    `port=${port}`,
    'listen_addresses=',
    `unix_socket_directories=${sock}`,
    'shared_buffers=16MB',
    'max_connections=40',
    'fsync=on',
    'restart_after_crash=on',
    'log_min_messages=warning',
  ];
  // The data directory is on the volume, which only the namespace sees: settings go on the command line.
  const options = settings.map((o) => `-c ${o}`).join(' ');
  let postmaster = 0;
  const ready = () => spawnSync(`${BIN}/pg_isready`, { env }).status === 0;
  const alive = (pid: number) => fs.existsSync(`/proc/${pid}`);
  const cluster: Cluster = {
    env,
    get postmaster() {
      return postmaster;
    },
    log: () => fs.readFileSync(logFile, 'utf8'),
    sql(query) {
      const r = spawnSync(
        `${BIN}/psql`,
        ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres', '-c', query],
        {
          env,
          encoding: 'utf8',
        },
      );
      assert.equal(r.status, 0, `${query}: ${r.stderr}`);
      return r.stdout.split('\n').filter(Boolean);
    },
    pgbench(args, appName) {
      const child = spawn(`${BIN}/pgbench`, ['-d', 'postgres', ...args], {
        env: { ...env, PGAPPNAME: appName },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (b) => (out += b));
      child.stderr!.on('data', (b) => (out += b));
      return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })));
    },
    children: () =>
      lines(`/proc/${postmaster}/task/${postmaster}/children`)
        .join(' ')
        .split(' ')
        .filter(Boolean)
        .map(Number),
    ready,
    async stop() {
      const pid = postmaster;
      process.kill(pid, 'SIGINT');
      await until('the postmaster exits', () => !alive(pid), 40_000);
    },
    async start() {
      ns.start(`exec ${BIN}/postgres -D ${data} ${options} >>${logFile} 2>&1`, { user: 'postgres' });
      await until('PostgreSQL accepts connections', ready, 40_000);
      // postmaster.pid is on the volume, which the host does not see: read it in the namespace.
      postmaster = Number(ns.run(`head -1 ${data}/postmaster.pid`).stdout.trim());
      assert.ok(alive(postmaster), `postmaster ${postmaster} runs`);
    },
  };
  await cluster.start();
  return cluster;
}

/**
 * A tpcb-like transaction as pgbench's (so its consistency check holds): move `delta` into account
 * `aid` through teller and branch 1, with a history row.
 */
export const transfer = (aid: number, delta: number) =>
  `BEGIN; UPDATE pgbench_accounts SET abalance = abalance + ${delta} WHERE aid = ${aid}; ` +
  `UPDATE pgbench_tellers SET tbalance = tbalance + ${delta} WHERE tid = 1; ` +
  `UPDATE pgbench_branches SET bbalance = bbalance + ${delta} WHERE bid = 1; ` +
  `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, ${aid}, ${delta}, now()); COMMIT;`;

/** pgbench's own invariant: every balance table and the history sum to the same total. */
export function assertBalancesConsistent(c: Cluster): void {
  const [sums] = c.sql(
    "SELECT (SELECT sum(abalance) FROM pgbench_accounts) || ' ' || (SELECT sum(tbalance) FROM pgbench_tellers) || " +
      "' ' || (SELECT sum(bbalance) FROM pgbench_branches) || ' ' || (SELECT sum(delta) FROM pgbench_history)",
  );
  const [a, t, b, h] = sums!.split(' ');
  assert.ok(
    a === t && t === b && b === h,
    `balances agree with the history: accounts ${a}, tellers ${t}, branches ${b}, history ${h}`,
  );
}

/** pg_amcheck over every database: heap and every index (heapallindexed), installing amcheck. */
export function assertAmcheckClean(c: Cluster): void {
  const r = spawnSync(`${BIN}/pg_amcheck`, ['--all', '--heapallindexed', '--install-missing', '--progress'], {
    env: c.env,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `pg_amcheck: ${r.stdout}${r.stderr}`);
  // Each pgbench index was checked, not skipped.
  const indexes = c.sql("SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'pgbench_%'");
  assert.ok(Number(indexes[0]) >= 3, 'the pgbench tables have their indexes');
  const direct = c.sql(
    "SELECT count(*) FROM (SELECT bt_index_check(c.oid, true) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'pgbench_%') x",
  );
  assert.equal(direct[0], indexes[0], 'bt_index_check(heapallindexed) passed on every pgbench index');
}

/** pgbench's summary: exit 0 and no failed transaction. */
export function assertPgbenchOk(what: string, r: { code: number | null; out: string }): number {
  assert.equal(r.code, 0, `${what}: pgbench exited ${r.code}:\n${r.out}`);
  const failed = /number of failed transactions: (\d+)/.exec(r.out);
  assert.equal(failed?.[1] ?? '0', '0', `${what}: ${r.out}`);
  const done = /number of transactions actually processed: (\d+)/.exec(r.out);
  assert.ok(done && Number(done[1]) > 0, `${what}: transactions were processed:\n${r.out}`);
  return Number(done[1]);
}
