/**
 * Forty injections and recoveries of one running app, a third of them ended by SIGKILLing the daemon
 * (its restart recovers from the journal), on a small volume the app keeps filling up. The app appends
 * sequenced 128-byte records (a page holds 32, so a record is written whole or refused with ENOSPC)
 * and, when the volume is full, deletes a ballast file and tries the same record again (the ballast
 * fills the 8 MB volume first; a run writes about 3 MB of records). Checked after
 * every cycle: nothing of ChaosFS left in the namespace; at the end: every record the app was told was
 * written is in the file, in order, once, and the namespace is as before.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertRecovered, cli, lines, until, useAppNamespace } from './support';

const APP = (V: string, O: string) => `
import errno, os, time
for i in range(200):
    with open(f"${V}/ballast-{i}", "wb") as b:
        try:
            b.write(b"\\0" * 65536)
        except OSError:
            break
fd = os.open("${V}/records", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
acked = open("${O}/acked", "a")
seq = full = 0
while not os.path.exists("${O}/stop"):
    record = (f"record {seq:08d} ".encode() + b"x" * 128)[:127] + b"\\n"
    try:
        assert os.write(fd, record) == len(record)
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        full += 1
        ballast = sorted(n for n in os.listdir("${V}") if n.startswith("ballast-"))
        if ballast:
            os.unlink(f"${V}/{ballast[0]}")
        continue
    acked.write(f"{seq}\\n"); acked.flush()
    seq += 1
    time.sleep(0.005)
open("${O}/full", "w").write(str(full))
`;

describe('applications: 40 injections and recoveries under SIGKILLs, on a volume that fills up', function () {
  this.timeout(600_000);
  let appErr = '';
  const current = useAppNamespace({
    sizeMb: 8,
    failureLog: () => `app stderr:\n${fs.existsSync(appErr) ? fs.readFileSync(appErr, 'utf8') : ''}`,
  });

  it('every acknowledged record is there, in order, once; nothing of ChaosFS is left after any cycle', async () => {
    const { d, ns } = current;
    const before = ns.mountTable();
    const V = ns.volume;
    const O = ns.outside;
    fs.writeFileSync(`${O}/app.py`, APP(V, O));
    appErr = `${O}/app.err`;
    const app = ns.start(`echo $$ > ${O}/app.pid; exec python3 ${O}/app.py 2>> ${O}/app.err`);
    await until('the app appends', () => lines(`${O}/acked`).length > 50);
    const pid = Number(lines(`${O}/app.pid`)[0]);
    const chaosFsMounts = () => ns.mountTable().filter((l) => / - fuse\.chaosfs /.test(l));
    let killed = 0;
    for (let cycle = 0; cycle < 40; cycle++) {
      cli(d, 0, 'delay', `pid/${pid}`, '--path', V, '--delay', '1ms', '--methods', 'write');
      const mark = lines(`${O}/acked`).length;
      await until('the app appends while injected', () => lines(`${O}/acked`).length > mark + 5);
      if (cycle % 3 === 0) {
        await d.kill();
        killed++;
        const recovered = () => (d.log().match(/"event":"recovered-leftovers"/g) ?? []).length;
        const seen = recovered();
        await d.start();
        await until('the restarted daemon recovered', () => recovered() > seen);
      } else {
        cli(d, 0, 'recover', `pid/${pid}`);
      }
      assert.deepEqual(chaosFsMounts(), [], `cycle ${cycle}: no ChaosFS mount left`);
      assert.deepEqual(lines(`${O}/app.err`), [], `cycle ${cycle}: the app is fine`);
    }
    await sleep(200);
    fs.writeFileSync(`${O}/stop`, '');
    await new Promise((resolve) => app.once('exit', resolve));
    assert.deepEqual(lines(`${O}/app.err`), []);
    assert.ok(Number(fs.readFileSync(`${O}/full`, 'utf8')) > 0, 'the volume was full at times');
    assert.equal(killed, 14);
    const acked = lines(`${O}/acked`).map(Number);
    // Copied out, not read through a pipe: a few MB would overflow spawnSync's buffer.
    assert.equal(ns.run(`cp ${V}/records ${O}/records`).status, 0);
    const records = fs.readFileSync(`${O}/records`, 'utf8').split('\n').slice(0, -1);
    const wrong = records.filter((r, i) => r !== `record ${String(i).padStart(8, '0')} ${'x'.repeat(111)}`);
    assert.deepEqual(wrong.slice(0, 3), [], `every record whole and in order (${wrong.length} not)`);
    assert.equal(records.length, acked.length, 'every acknowledged record there once, nothing more');
    assertRecovered(ns, before, d.dir);
  });
});
