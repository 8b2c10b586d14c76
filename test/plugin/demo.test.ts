/**
 * `npm run demo`, run as a user would: it must pass its own checks, and every row it prints must carry
 * the phase that was in force for the whole second it measured. A row measured before the delay was
 * on, labelled with the delay, would show the app fast under "delay 10ms on 50%".
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { requireRootAndFuse } from '../support/root';
import { ROOT } from '../support/paths';

interface Row {
  phase: string;
  p99: number;
}

describe('the demo', function () {
  this.timeout(240_000);

  it('passes its checks, and labels each row with the phase it measured', () => {
    requireRootAndFuse();
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'plugin', 'demo', 'demo.js')], {
      encoding: 'utf8',
      timeout: 200_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /all \d+ records the app wrote are intact, in order\./);
    assert.match(r.stdout, /the app's mount table is as it was before\./);
    const rows: Row[] = [];
    for (const line of r.stdout.split('\n')) {
      const m = /^\s+\d+s\s+(.+?)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+%|-)/.exec(line);
      if (m) rows.push({ phase: m[1], p99: Number(m[4]) });
    }
    const delayed = rows.filter(
      (x) => x.phase === 'delay 10ms on 50%' || x.phase === '+ EIO on 10% of writes',
    );
    assert.ok(delayed.length >= 3, `rows under the delay: ${JSON.stringify(rows)}`);
    // Half the calls wait 10 ms for the whole second a row covers: its p99 is one of them.
    for (const row of delayed)
      assert.ok(row.p99 >= 9, `a row labelled "${row.phase}" measured no delay: ${JSON.stringify(row)}`);
    assert.ok(rows.some((x) => x.phase === 'baseline') && rows.some((x) => x.phase === 'recovered'));
  });
});
