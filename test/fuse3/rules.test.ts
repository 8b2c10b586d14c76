/**
 * The rule set decided in C (src/rules.c): only calls a rule fires on leave the native path, the
 * percent is drawn in C, a delay rule holds replies back without holding a worker thread, and a new
 * set applies at once, also to files whose pages the kernel had cached.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Call } from '../../native/fuse-native/index';
import { eachSandbox, mount, py } from './support';

/** Python that reads each file given and prints, per file, the ms its open+read took. */
function timedReads(files: string[], parallel = false): string {
  return `
import sys, time, threading
files = ${JSON.stringify(files)}
out = [0.0] * len(files)
def read(k):
    t = time.monotonic()
    with open(files[k], 'rb') as f:
        f.read()
    out[k] = (time.monotonic() - t) * 1000
if ${parallel ? 'True' : 'False'}:
    ts = [threading.Thread(target=read, args=(k,)) for k in range(len(files))]
    t0 = time.monotonic()
    [t.start() for t in ts]
    [t.join() for t in ts]
    print('total %.1f' % ((time.monotonic() - t0) * 1000))
else:
    [read(k) for k in range(len(files))]
print(' '.join('%.1f' % v for v in out))
`;
}

function times(stdout: string): number[] {
  return stdout.trim().split('\n').pop()!.split(' ').map(Number);
}

describe('fuse-native (libfuse3): rules decided in C', function () {
  const box = eachSandbox();

  it('with a rule on **/*.sst, only .sst calls reach JS; reads of other files stay native', async function () {
    const b = box();
    fs.mkdirSync(path.join(b.backing, 'db'));
    fs.writeFileSync(path.join(b.backing, 'db/1.sst'), 'table\n');
    fs.writeFileSync(path.join(b.backing, 'db/1.log'), 'log\n');
    const seen: Call[] = [];
    const s = mount(b, {
      rules: [{ ops: ['open', 'read'], glob: '**/*.sst', js: true }],
      handlers: { call: (c) => void seen.push(c) },
    });
    const r = await py(`
for n in ['db/1.log', 'hello', 'db/1.sst', 'db/1.log']:
    print(open('${b.mnt}/' + n).read(), end='')`);
    assert.equal(r.stdout, 'log\nhello world\ntable\nlog\n', r.stderr);
    // direct_io: the read of the data and the read that finds its end
    const shown = [...new Set(seen.map((c) => `${c.op} ${c.path} ${c.rules.join()}`))];
    assert.deepEqual(shown, ['open db/1.sst 0', 'read db/1.sst 0']);
    const st = s.stats()!;
    assert.equal(st.jsCalls.read, seen.filter((c) => c.op === 'read').length);
    assert.equal(st.jsCalls.open, 1);
    assert.ok(st.nativeCalls.read >= 2 && st.nativeCalls.open >= 3, JSON.stringify(st.nativeCalls));
  });

  it('draws the percent in C: 50% of 400 opens reach JS (between 30% and 70%), 0% none', async function () {
    const b = box();
    let seen = 0;
    const s = mount(b, {
      rules: [{ ops: ['open'], glob: 'hello', percent: 50, js: true }],
      handlers: { call: () => void seen++ },
    });
    const opens = `
for _ in range(400):
    open('${b.mnt}/hello').close()`;
    assert.equal((await py(opens)).code, 0);
    assert.ok(seen > 120 && seen < 280, `${seen} of 400 reached JS`);
    assert.equal(s.stats()!.jsCalls.open, seen);
    await s.setRules([{ ops: ['open'], percent: 0, js: true }]);
    seen = 0;
    assert.equal((await py(opens)).code, 0);
    assert.equal(seen, 0);
  });

  it('a delay rule holds only the calls it fires on, never through JS, and other calls pass meanwhile', async function () {
    const b = box();
    fs.writeFileSync(path.join(b.backing, 'slow.sst'), 'slow\n');
    const s = mount(b, { rules: [{ ops: ['read'], glob: '**/*.sst', delayUs: 400_000 }] });
    const script = `
import threading, time
def slow():
    t = time.monotonic(); open('${b.mnt}/slow.sst').read(); print('slow %.1f' % ((time.monotonic() - t) * 1000))
th = threading.Thread(target=slow); th.start()
time.sleep(0.05)
t = time.monotonic(); open('${b.mnt}/hello').read(); print('fast %.1f' % ((time.monotonic() - t) * 1000))
th.join()`;
    const r = await py(script);
    const ms = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' '))
        .map(([k, v]) => [k, Number(v)]),
    );
    assert.ok(ms.slow >= 390, `the delayed read took ${ms.slow} ms, not >= 400`);
    assert.ok(ms.fast < 300, `a read of another file took ${ms.fast} ms while the delayed one waited`);
    assert.equal(s.stats()!.jsCalls.read, 0, 'no JS involved');
  });

  it('16 delayed reads at once on 2 worker threads take about one delay, not eight (no worker waits)', async function () {
    const b = box();
    const files = Array.from({ length: 16 }, (_, k) => `${b.mnt}/f${k}`);
    for (let k = 0; k < 16; k++) fs.writeFileSync(path.join(b.backing, `f${k}`), `${k}\n`);
    mount(b, { options: { maxThreads: 2 }, rules: [{ ops: ['read'], glob: 'f*', delayUs: 300_000 }] });
    const r = await py(timedReads(files, true));
    const each = times(r.stdout);
    const total = Number(/total ([\d.]+)/.exec(r.stdout)![1]);
    assert.ok(Math.min(...each) >= 290, `every read was delayed: ${each.join(' ')}`);
    assert.ok(total < 1500, `16 reads took ${total} ms together: held workers would take 8 x 300`);
  });

  it('a new rule set applies at once to a file whose pages were cached, and stays off other files', async function () {
    const b = box();
    fs.writeFileSync(path.join(b.backing, 'x.sst'), 'sst\n');
    const s = mount(b);
    const files = [`${b.mnt}/x.sst`, `${b.mnt}/hello`];
    await py(timedReads(files));
    const before = s.stats()!.nativeCalls.read;
    await py(timedReads(files));
    assert.equal(s.stats()!.nativeCalls.read, before, 'no rule: reads are served from the page cache');
    await s.setRules([{ ops: ['read'], glob: '**/*.sst', delayUs: 300_000 }]);
    const [sst, hello] = times((await py(timedReads(files))).stdout);
    assert.ok(sst >= 290, `the cached .sst read took ${sst} ms: the new rule did not reach it`);
    assert.ok(hello < 250, `hello took ${hello} ms`);
    const mid = s.stats()!.nativeCalls.read;
    await py(timedReads([`${b.mnt}/hello`]));
    assert.equal(s.stats()!.nativeCalls.read, mid, 'a file no rule can match keeps the page cache');
    await s.setRules([]);
    const [again] = times((await py(timedReads([`${b.mnt}/x.sst`]))).stdout);
    assert.ok(again < 250, `with the rule gone the read took ${again} ms`);
  });

  it('refuses a bad rule with its index and reason, keeping the old set', async function () {
    const b = box();
    let seen = 0;
    const s = mount(b, { rules: [{ ops: ['open'], js: true }], handlers: { call: () => void seen++ } });
    assert.throws(
      () => s.setRules([{ ops: ['read'] }, { ops: ['read'], glob: '[abc' }]),
      /rule 1: bad glob: .*\[/,
    );
    assert.throws(() => s.setRules([{ ops: ['read'], percent: 150 }]), /rule 0: percent 150/);
    assert.throws(() => s.setRules([{ ops: ['reed' as 'read'] }]), /unknown FUSE op "reed"/);
    await py(`open('${b.mnt}/hello').close()`);
    assert.equal(seen, 1, 'the old set still applies');
  });
});
