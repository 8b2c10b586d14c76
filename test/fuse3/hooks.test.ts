/**
 * What ChaosFS needs of the binding beyond showing calls: the free space statfs reports (a full
 * disk), the size a truncate sets and the size before (growth), counters of natively served rules,
 * native delays ended by a rule change, and the access guard (calls served with the caller's
 * credentials, so permissions are the backing's real ones whatever the kernel was told).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Call } from '../../native/fuse-native/index';
import { eachSandbox, mount, py, run } from './support';

describe('fuse-native (libfuse3): hooks ChaosFS uses', function () {
  const box = eachSandbox();

  it('statfs: a rule may lower the free space the app sees, never raise it', async function () {
    const b = box();
    mount(b, {
      jsOps: ['statfs'],
      handlers: {
        call: (c) => {
          if (!c.after) return { after: true };
          c.space = { bsize: c.space!.bsize, bfree: 3, bavail: c.space!.bavail * 2 + 10 };
        },
      },
    });
    const real = fs.statfsSync(b.backing);
    const r = await py(`import os; s = os.statvfs('${b.mnt}'); print(s.f_bfree, s.f_bavail)`);
    assert.equal(r.code, 0, r.stderr);
    const [bfree, bavail] = r.stdout.trim().split(' ').map(Number);
    assert.equal(bfree, 3, 'lowered');
    assert.ok(bavail <= real.bavail + 1000, `not raised: ${bavail} (backing ${real.bavail})`);
  });

  it('setattr: a truncate shows the size it sets and the size before, in both steps', async function () {
    const b = box();
    const seen: Array<[boolean, number | undefined, number | undefined]> = [];
    mount(b, {
      jsOps: ['setattr'],
      handlers: {
        call: (c: Call) => {
          seen.push([c.after, c.size, c.sizeBefore]);
          return { after: true };
        },
      },
    });
    const r = await py(`import os; os.truncate('${b.mnt}/hello', 100)`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(seen, [
      [false, 100, 12],
      [true, 100, 12],
    ]);
    assert.equal(fs.statSync(path.join(b.backing, 'hello')).size, 100);
  });

  it('counts what a native delay rule matched and fired on; a new set ends the delays in flight', async function () {
    const b = box();
    const s = mount(b, { rules: [{ ops: ['read'], glob: 'hello', delayUs: 60_000_000 }] });
    const reading = py(`print(open('${b.mnt}/hello').read(), end='')`, 120_000);
    for (let i = 0; i < 100 && !(s.ruleCounts().fired[0] > 0); i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.ok(s.ruleCounts().fired[0] > 0, 'the read is held by the delay');
    assert.ok(s.ruleCounts().matched[0] >= s.ruleCounts().fired[0]);
    const started = Date.now();
    await s.setRules([]);
    const r = await reading;
    assert.equal(r.stdout, 'hello world\n', r.stderr);
    // Not the rest of the 60 s delay: a loose bound, far above a loaded machine's noise.
    assert.ok(Date.now() - started < 20_000, 'the held reply was sent when the rules changed');
    assert.deepEqual(s.ruleCounts(), { matched: [], fired: [] }, 'the new (empty) set counts afresh');
  });

  it('the guard serves calls as their caller: a file the kernel was told is 0666 stays the 0600 it is', async function () {
    const b = box();
    fs.chmodSync(b.base, 0o755);
    fs.chmodSync(b.backing, 0o755);
    fs.writeFileSync(path.join(b.backing, 'secret'), 'root only');
    fs.chmodSync(path.join(b.backing, 'secret'), 0o600);
    const lie = {
      call: (c: Call) => {
        if (!c.after) return { after: true };
        if (c.attr && c.path === 'secret') c.attr.mode = (c.attr.mode & ~0o777) | 0o666;
      },
    };
    const s = mount(b, {
      options: { allowOther: true, defaultPermissions: true },
      jsOps: ['lookup', 'getattr'],
      handlers: lie,
    });
    const asUser = (script: string) =>
      run('setpriv', ['--reuid', '4321', '--regid', '4322', '--clear-groups', 'sh', '-c', script]);
    const read = `cat ${b.mnt}/secret`;
    const stat = await asUser(`stat -c %a ${b.mnt}/secret`);
    assert.equal(stat.stdout.trim(), '666', 'the kernel was told 0666');
    const unguarded = await asUser(read);
    assert.equal(unguarded.stdout, 'root only', 'without the guard the lie lets uid 4321 read (the hole)');
    s.setGuard(true);
    await s.invalidate();
    const guarded = await asUser(read);
    assert.notEqual(guarded.code, 0, 'refused with the guard on');
    assert.match(guarded.stderr, /Permission denied/);
    const root = await run('cat', [path.join(b.mnt, 'secret')]);
    assert.equal(root.stdout, 'root only', 'root is not held back');
    s.setGuard(false);
  });
});
