/**
 * SQLite under a 2% EIO write fault: a writer that holds its database open from before the injection
 * commits one row per transaction and records each commit SQLite acknowledged; some commits fail with
 * "disk I/O error" while injected, none after `recover`. Checks: PRAGMA integrity_check is ok, every
 * acknowledged row is in the table, the writer goes on committing after recovery, and the namespace is
 * back on its own volume.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertRecovered, cli, lines, until, useAppNamespace } from './support';

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

describe('applications: SQLite under a 2% EIO write fault', function () {
  this.timeout(90_000);
  const current = useAppNamespace();

  it('integrity_check ok, every acknowledged commit present, the writer goes on after recover', async () => {
    const { d, ns } = current;
    const before = ns.mountTable();
    const O = ns.outside;
    const db = path.join(ns.volume, 'app.db');
    fs.writeFileSync(path.join(O, 'writer.py'), WRITER);
    const writer = ns.start(`exec /usr/bin/python3 ${O}/writer.py ${db} ${O} 2>>${O}/stderr`);
    const acked = () => lines(`${O}/acked`);
    const failed = () => lines(`${O}/errors`);
    await until('the writer commits', () => acked().length > 20);
    cli(
      d,
      0,
      'fault',
      `pid/${writer.pid}`,
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
    const ackedAtInject = acked().length;
    await until('commits fail with EIO under the fault', () => failed().length >= 3, 40_000);
    await until('commits still succeed under the fault', () => acked().length > ackedAtInject + 50);
    cli(d, 0, 'recover', `pid/${writer.pid}`);
    fs.writeFileSync(`${O}/phase2`, '');
    await until(
      'the writer commits after recovery',
      () => acked().filter((l) => l.startsWith('after')).length > 100,
    );
    assertRecovered(ns, before, d.dir);
    fs.writeFileSync(`${O}/stop`, '');
    await new Promise((resolve) => writer.once('exit', resolve));

    assert.ok(
      failed().every((l) => !l.startsWith('after')),
      `no commit failed after recovery:\n${failed().join('\n')}`,
    );
    assert.ok(
      failed().some((l) => /disk I\/O error/.test(l)),
      `the fault reached SQLite: ${failed().join('\n')}`,
    );
    assert.doesNotMatch(fs.readFileSync(`${O}/stderr`, 'utf8'), /not connected/i);
    const check = ns.run(`sqlite3 ${db} 'PRAGMA integrity_check;'`);
    assert.equal(check.stdout.trim(), 'ok', `integrity_check: ${check.stdout}${check.stderr}`);
    const rows = new Set(ns.run(`sqlite3 ${db} 'select id from t;'`).stdout.split('\n').filter(Boolean));
    const missing = acked()
      .map((l) => l.split(' ')[1]!)
      .filter((id) => !rows.has(id));
    assert.deepEqual(missing, [], 'every acknowledged commit is in the table');
    assert.ok(rows.size >= acked().length, `${rows.size} rows, ${acked().length} acknowledged`);
  });
});
