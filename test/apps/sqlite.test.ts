/**
 * SQLite: a writer that holds its database open from before the injection commits one row per
 * transaction and records each commit SQLite acknowledged. Two cases: a 2% EIO write fault (some
 * commits fail with "disk I/O error" while injected), and the sidecar's death (daemon and worker
 * SIGKILLed together mid-injection, as an OOM kill of the sidecar container does: commits fail while
 * the mount is dead, the restarted daemon puts the writer back). Checks, after `recover`: no commit
 * fails, PRAGMA integrity_check is ok, every acknowledged row is in the table, the writer goes on
 * committing, and the namespace is back on its own volume.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { journaledWorkerPids } from '../support/daemon';
import { assertRecovered, cli, lines, until, useAppNamespace, type Namespace } from './support';

/** The writer: python3's sqlite3 module (the system's libsqlite3), one connection for its whole life. */
const WRITER = `
import os, sqlite3, sys, time
db, out = sys.argv[1], sys.argv[2]
con = sqlite3.connect(db, isolation_level=None, timeout=10)
con.execute("create table if not exists t(id integer primary key, v text not null)")
acked = open(os.path.join(out, "acked"), "a")
errors = open(os.path.join(out, "errors"), "a")
print("ready", flush=True)
i = 0
while not os.path.exists(os.path.join(out, "stop")):
    i += 1
    phase = "after" if os.path.exists(os.path.join(out, "phase2")) else "before-or-during"
    try:
        con.execute("begin immediate")
        con.execute("insert into t values (?, ?)", (i, "x" * 300))
        con.execute("commit")
        acked.write(f"{phase} {i}\\n"); acked.flush()
    except sqlite3.Error as e:
        errors.write(f"{phase} {i} {e}\\n"); errors.flush()
        try:
            con.execute("rollback")
        except sqlite3.Error:
            pass
    time.sleep(0.002)
`;

/** The writer, started in the namespace, with what it recorded so far. */
function startWriter(ns: Namespace) {
  const O = ns.outside;
  const db = path.join(ns.volume, 'app.db');
  fs.writeFileSync(path.join(O, 'writer.py'), WRITER);
  const child = ns.start(`exec /usr/bin/python3 ${O}/writer.py ${db} ${O} 2>>${O}/stderr`);
  return {
    pid: child.pid!,
    db,
    acked: () => lines(`${O}/acked`),
    failed: () => lines(`${O}/errors`),
    /** From now on a commit is recorded as made after recovery. */
    recovered: () => fs.writeFileSync(`${O}/phase2`, ''),
    async stop() {
      fs.writeFileSync(`${O}/stop`, '');
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}
type Writer = ReturnType<typeof startWriter>;

/** After `recover`: commits go on and none fails, the database is sound and has every acknowledged row. */
async function assertWriterSound(ns: Namespace, w: Writer, mountTableBefore: string[], daemonDir: string) {
  await until(
    'the writer commits after recovery',
    () => w.acked().filter((l) => l.startsWith('after')).length > 100,
  );
  assertRecovered(ns, mountTableBefore, daemonDir);
  await w.stop();
  assert.ok(
    w.failed().every((l) => !l.startsWith('after')),
    `no commit failed after recovery:\n${w.failed().join('\n')}`,
  );
  assert.doesNotMatch(fs.readFileSync(`${ns.outside}/stderr`, 'utf8'), /not connected/i);
  const check = ns.run(`sqlite3 ${w.db} 'PRAGMA integrity_check;'`);
  assert.equal(check.stdout.trim(), 'ok', `integrity_check: ${check.stdout}${check.stderr}`);
  const rows = new Set(ns.run(`sqlite3 ${w.db} 'select id from t;'`).stdout.split('\n').filter(Boolean));
  const missing = w
    .acked()
    .map((l) => l.split(' ')[1]!)
    .filter((id) => !rows.has(id));
  assert.deepEqual(missing, [], 'every acknowledged commit is in the table');
  assert.ok(rows.size >= w.acked().length, `${rows.size} rows, ${w.acked().length} acknowledged`);
}

describe('applications: SQLite', function () {
  this.timeout(90_000);
  const current = useAppNamespace();

  it('a 2% EIO write fault: integrity_check ok, every acknowledged commit present, the writer goes on after recover', async () => {
    const { d, ns } = current;
    const before = ns.mountTable();
    const w = startWriter(ns);
    await until('the writer commits', () => w.acked().length > 20);
    cli(
      d,
      0,
      'fault',
      `pid/${w.pid}`,
      '--path',
      ns.volume,
      '--errno',
      'EIO',
      '--methods',
      'write',
      '--percent',
      '2',
      '--seed',
      '11',
    );
    const ackedAtInject = w.acked().length;
    await until('commits fail with EIO under the fault', () => w.failed().length >= 3, 40_000);
    await until('commits still succeed under the fault', () => w.acked().length > ackedAtInject + 50);
    cli(d, 0, 'recover', `pid/${w.pid}`);
    w.recovered();
    await assertWriterSound(ns, w, before, d.dir);
    assert.ok(
      w.failed().some((l) => /disk I\/O error/.test(l)),
      `the fault reached SQLite: ${w.failed().join('\n')}`,
    );
  });

  it("the sidecar's death: daemon and worker SIGKILLed together mid-injection, the restarted daemon puts the writer back", async () => {
    const { d, ns } = current;
    const before = ns.mountTable();
    const w = startWriter(ns);
    await until('the writer commits', () => w.acked().length > 20);
    cli(d, 0, 'delay', `pid/${w.pid}`, '--path', ns.volume, '--delay', '1ms', '--methods', 'write,fsync');
    const ackedAtInject = w.acked().length;
    await until('commits go on under the delay', () => w.acked().length > ackedAtInject + 50);
    const workers = journaledWorkerPids(d);
    assert.equal(workers.length, 1, 'one worker serves the injection');
    // Together, as when the sidecar container is OOM-killed: the worker's mount dies with no one to recover it.
    process.kill(workers[0]!, 'SIGKILL');
    await d.kill();
    await until('commits fail on the dead mount', () => w.failed().length > 0);
    assert.match(w.failed().join('\n'), /disk I\/O error/);

    await d.start(); // it recovers what its journal says is still on before it answers
    assert.match(d.log(), /"event":"recovered-leftovers"/);
    assert.doesNotMatch(d.log(), /recover-incomplete/);
    w.recovered();
    const status = JSON.parse(cli(d, 0, 'status', '-o', 'json').stdout)[0].result.injections;
    assert.deepEqual(status, [], 'nothing is left injected');
    await assertWriterSound(ns, w, before, d.dir);
  });
});
