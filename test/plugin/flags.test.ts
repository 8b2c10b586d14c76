/**
 * The rule flags through the real `kubectl-iochaos`, a real daemon and a real target app: `--files`,
 * `--times`, `--seed`, `--jitter`, weighted `--errno`, `--perm` and the attribute times, each judged by
 * what the app sees call by call, and each bad value refused naming its flag.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { requireRootAndFuse } from '../support/root';
import { testDaemon, type TestDaemon } from '../support/daemon';
import { startTarget, type Target } from '../support/target';
import { mounts } from '../support/mounts';

describe('kubectl iochaos rule flags, as the app sees them call by call', function () {
  this.timeout(180_000);
  let d: TestDaemon;
  let t: Target;
  let pid: string;

  const volumeMounts = () => t.mountTable().filter((l) => l.split(' ')[2].startsWith(t.volume));
  const injected = () => volumeMounts().some((l) => l.includes('fuse.chaosfs'));
  const ok = (r: { status: number | null; stdout: string; stderr: string }) => {
    assert.equal(r.status, 0, `exit 0, got ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const inject = (...args: string[]) => ok(d.cli(args[0], pid, '--path', t.volume, ...args.slice(1)));
  /** A file put on the volume from outside, as another container of the pod would. */
  const put = (file: string, text = file) => {
    const p = `/proc/${t.pid}/root${t.volume}/${file}`;
    fs.mkdirSync(p.slice(0, p.lastIndexOf('/')), { recursive: true });
    fs.writeFileSync(p, text);
  };
  /** The app reads `file` n times (one open each): 'ok' or the errno it got, and how long each took. */
  const reads = async (file: string, n: number) => {
    const out: { code: string; ms: number }[] = [];
    for (let i = 0; i < n; i++) {
      const r = await t.ask({ op: 'read', file });
      out.push({ code: r.ok ? 'ok' : r.code!, ms: r.ms });
    }
    return out;
  };
  const codes = async (file: string, n: number) => (await reads(file, n)).map((r) => r.code);
  /** Each refused with exit 2, the message naming the flag, nothing sent. */
  const refused = (cases: [string[], string][]) => {
    for (const [args, stderr] of cases) {
      const r = d.cli(args[0], pid, '--path', t.volume, ...args.slice(1));
      assert.equal(r.stderr, stderr, args.join(' '));
      assert.equal(r.status, 2, args.join(' '));
      assert.equal(r.stdout, '');
    }
    assert.equal(injected(), false, 'a refused command injects nothing');
  };

  before(async () => {
    requireRootAndFuse();
    d = testDaemon();
    await d.start();
    t = await startTarget();
    pid = `pid/${t.pid}`;
  });
  afterEach(() => {
    if (injected()) d.cli('recover', pid);
  });
  after(async () => {
    const left = d ? mounts().filter((m) => m.mountpoint.startsWith(d.dir)) : [];
    await t?.kill();
    await d?.cleanup();
    assert.deepEqual(left, [], 'no ChaosFS mount is left behind');
  });

  it("--files: '*' stays in the volume's top directory, '**' crosses; other files are untouched", async () => {
    for (const f of ['top.log', 'sub/deep.log', 'sub/x.txt', 'top.txt']) put(f);
    const seen = async () =>
      Object.fromEntries(
        await Promise.all(
          ['top.log', 'sub/deep.log', 'sub/x.txt', 'top.txt'].map(
            async (f) => [f, (await codes(f, 1))[0]] as const,
          ),
        ),
      );
    inject('fault', '--errno', 'EACCES', '--methods', 'open', '--files', '*.log', '--name', 'files');
    assert.deepEqual(await seen(), {
      'top.log': 'EACCES',
      'sub/deep.log': 'ok',
      'sub/x.txt': 'ok',
      'top.txt': 'ok',
    });
    inject('fault', '--errno', 'EACCES', '--methods', 'open', '--files', '**/*.log', '--name', 'files');
    assert.deepEqual(await seen(), {
      'top.log': 'EACCES',
      'sub/deep.log': 'EACCES',
      'sub/x.txt': 'ok',
      'top.txt': 'ok',
    });
    inject('fault', '--errno', 'EACCES', '--methods', 'open', '--files', 'sub/*', '--name', 'files');
    assert.deepEqual(await seen(), {
      'top.log': 'ok',
      'sub/deep.log': 'EACCES',
      'sub/x.txt': 'EACCES',
      'top.txt': 'ok',
    });
  });

  it('--times N: exactly the first N matching calls fail, then none', async () => {
    put('times.txt');
    inject('fault', '--errno', 'EIO', '--methods', 'open', '--files', 'times.txt', '--times', '3');
    assert.deepEqual(await codes('times.txt', 10), [...Array(3).fill('EIO'), ...Array(7).fill('ok')]);
    ok(d.cli('recover', pid));
    refused([
      [['fault', '--errno', 'EIO', '--times', '0'], 'error: --times: Too small: expected number to be >0\n'],
    ]);
  });

  it('--seed: the same seed gives the same sequence of outcomes, another seed another', async () => {
    put('seed.txt');
    const run = async (seed: string) => {
      inject(
        'fault',
        '--errno',
        'EIO',
        '--percent',
        '50',
        '--methods',
        'open',
        '--files',
        'seed.txt',
        '--seed',
        seed,
      );
      const seq = (await codes('seed.txt', 48)).join(',');
      ok(d.cli('recover', pid));
      return seq;
    };
    const first = await run('42');
    assert.match(first, /ok/);
    assert.match(first, /EIO/);
    assert.equal(await run('42'), first, 'a second run with the same seed');
    assert.notEqual(await run('43'), first, 'another seed');
  });

  it('--jitter: delays spread around --delay, within --delay ± --jitter', async () => {
    put('jitter.txt');
    inject('delay', '--delay', '40ms', '--jitter', '30ms', '--methods', 'open', '--files', 'jitter.txt');
    const ms = (await reads('jitter.txt', 40)).map((r) => r.ms);
    // A loaded machine only makes calls slower: the lower bound and the short calls are the evidence.
    assert.ok(Math.min(...ms) >= 9, `no call waited less than 40 - 30 ms: ${ms.map(Math.round)}`);
    assert.ok(
      ms.filter((m) => m < 30).length >= 3,
      `calls well under the 40 ms delay exist only with jitter: ${ms.map(Math.round)}`,
    );
    assert.ok(Math.max(...ms) - Math.min(...ms) >= 15, `the delays spread: ${ms.map(Math.round)}`);
    ok(d.cli('recover', pid));
    refused([
      [
        ['delay', '--delay', '10ms', '--jitter', 'lots'],
        'error: --jitter: "lots" is not a duration: use e.g. "10ms", "1.5s", "2m"\n',
      ],
    ]);
  });

  it('weighted --errno EIO:3,ENOSPC:1: both errnos, about 3 to 1; a bad weight is refused naming --errno', async () => {
    put('weights.txt');
    inject('fault', '--errno', 'EIO:3,ENOSPC:1', '--methods', 'open', '--files', 'weights.txt');
    const seen = await codes('weights.txt', 400);
    const eio = seen.filter((c) => c === 'EIO').length;
    const enospc = seen.filter((c) => c === 'ENOSPC').length;
    assert.equal(eio + enospc, 400, 'every call failed with one of the two');
    // Expected 300 EIO (sd ~ 8.7): the bounds are over five sd wide.
    assert.ok(eio >= 250 && eio <= 350, `EIO ${eio}, ENOSPC ${enospc}: about 3 to 1`);
    ok(d.cli('recover', pid));

    const weight = 'error: --errno: a weight is a positive number, as in EIO:3,ENOSPC:1\n';
    refused([
      [['fault', '--errno', 'EIO:x,ENOSPC:1'], weight],
      [['fault', '--errno', 'EIO:0,ENOSPC:1'], weight],
      [['fault', '--errno', 'EIO:-1'], weight],
      [['fault', '--errno', 'EIO:,ENOSPC:1'], weight],
      [['fault', '--errno', 'EIO:3:4'], weight],
      [
        ['fault', '--errno', 'EIO:3,EBOGUS:1'],
        'error: --errno: unknown errno "EBOGUS": use a name like "EIO" or "ENOSPC"\n',
      ],
    ]);
  });

  it('--perm: 0644, 644 and 0o644 are the same bits; anything else is refused naming --perm', async () => {
    put('perm.txt');
    fs.chmodSync(`/proc/${t.pid}/root${t.volume}/perm.txt`, 0o600);
    for (const perm of ['0644', '644', '0o644', '4755']) {
      inject('attr', '--files', 'perm.txt', '--perm', perm, '--name', 'perm');
      const st = (await t.ask({ op: 'stat', file: 'perm.txt' })).value as { mode: number };
      assert.equal(st.mode, fs.constants.S_IFREG | parseInt(perm.replace('0o', ''), 8), perm);
    }
    ok(d.cli('recover', pid));
    const bad = (v: string) =>
      `error: --perm: "${v}" is not permission bits: give octal digits, e.g. "0444" or "0644" (at most 07777)\n`;
    refused(
      ['999', '0x1a4', 'rw-r--r--', '10000', '0o', '0o999', '6 44'].map((v) => [
        ['attr', '--perm', v],
        bad(v),
      ]),
    );
  });

  it('attribute times: RFC 3339 and unix seconds as documented; anything else is refused naming its flag', async () => {
    put('time.txt');
    const cases: [string, string][] = [
      ['2024-01-02', '1704153600000000000'],
      ['2024-01-02T03:04:05Z', '1704164645000000000'],
      ['2024-01-02t03:04:05.5-01:30', '1704170045500000000'],
      ['1700000000', '1700000000000000000'],
      ['1700000000.000000001', '1700000000000000001'],
    ];
    for (const [text, ns] of cases) {
      inject('attr', '--files', 'time.txt', '--mtime', text, '--name', 'time');
      const st = (await t.ask({ op: 'stat', file: 'time.txt' })).value as { mtimeNs: string };
      assert.equal(st.mtimeNs, ns, text);
    }
    ok(d.cli('recover', pid));
    const bad = (flag: string, v: string) =>
      `error: --${flag}: "${v}" is not a time: give unix seconds (e.g. 1700000000.5) or RFC 3339 (e.g. "2024-01-02T03:04:05Z", "2024-01-02")\n`;
    refused([
      [['attr', '--mtime', 'yesterday'], bad('mtime', 'yesterday')],
      [['attr', '--atime', 'March 7'], bad('atime', 'March 7')],
      [['attr', '--ctime', '2024-02-30'], bad('ctime', '2024-02-30')],
      [['attr', '--mtime', '2024-01-02T03:04:05'], bad('mtime', '2024-01-02T03:04:05')],
      [['attr', '--mtime', '2024-01-02T25:00:00Z'], bad('mtime', '2024-01-02T25:00:00Z')],
      [['attr', '--mtime', '1e9'], bad('mtime', '1e9')],
      [['attr', '--mtime', '1700000000.1234567891'], bad('mtime', '1700000000.1234567891')],
    ]);
  });
});
