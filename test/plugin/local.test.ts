/**
 * `kubectl-iochaos` on a local process, through the real CLI and a real daemon: dry runs that change
 * nothing, a host-wide pid refused, durations that belong to rules, rules that replace instead of
 * stacking, messages that name the flag the person wrote, exit codes, df on a full disk, output formats
 * and completion.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from '../../sidecar/control/client';
import { requireRootAndFuse } from '../support/root';
import { testDaemon, type TestDaemon } from '../support/daemon';
import { startTarget, type Target } from '../support/target';
import { mounts } from '../support/mounts';

interface StatusEntry {
  ok: boolean;
  result: { injections: { id: string; rules: { id: string; expiresAt?: string }[] }[] };
}

describe('kubectl iochaos on a local process: safe flags, honest rules', function () {
  this.timeout(180_000);
  let d: TestDaemon;
  let t: Target;
  let pid: string;
  /** The target's mounts at and under its volume: other jobs' mounts elsewhere come and go meanwhile. */
  const volumeMounts = () => t.mountTable().filter((l) => l.split(' ')[2].startsWith(t.volume));
  const injected = () => volumeMounts().some((l) => l.includes('fuse.chaosfs'));
  const ok = (r: { status: number | null; stdout: string; stderr: string }) => {
    assert.equal(r.status, 0, `exit 0, got ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const ruleIds = (): string[][] => {
    const [entry] = JSON.parse(ok(d.cli('status', '-o', 'json'))) as StatusEntry[];
    return entry.result.injections.map((i) => i.rules.map((r) => r.id));
  };
  /** Polls until `done` holds; the durations below are seconds, so 40 s is far past any of them. */
  const until = async (what: string, done: () => boolean) => {
    for (let i = 0; i < 400 && !done(); i++) await sleep(100);
    assert.ok(done(), what);
  };

  before(async () => {
    requireRootAndFuse();
    d = testDaemon();
    await d.start();
    t = await startTarget();
    pid = `pid/${t.pid}`;
  });
  afterEach(() => {
    // Every test leaves the target as it found it.
    if (injected()) d.cli('recover', pid);
  });
  after(async () => {
    const left = d ? mounts().filter((m) => m.mountpoint.startsWith(d.dir)) : [];
    await t?.kill();
    await d?.cleanup();
    assert.deepEqual(left, [], 'no ChaosFS mount is left behind');
  });

  it('--dry-run=client and --dry-run=server never inject; server has the daemon check the target', () => {
    const before = volumeMounts();
    const client = d.cli('delay', pid, '--path', `${t.volume}/`, '--delay', '10ms', '--dry-run=client');
    const [planned] = JSON.parse(ok(client)) as { request: { volumePath: string; dryRun?: boolean } }[];
    assert.equal(planned.request.volumePath, t.volume, '--path /vol/ is normalised to /vol');
    assert.equal(planned.request.dryRun, undefined);

    const server = d.cli('delay', pid, '--path', `${t.volume}/`, '--delay', '10ms', '--dry-run=server');
    assert.match(
      ok(server),
      new RegExp(
        `^${pid}: would inject delay 10ms \\(all calls\\) at ${t.volume} \\(rule delay-[0-9a-f]{8}, 1 process\\); server dry run: nothing changed\\n$`,
      ),
    );
    const missing = d.cli('fault', pid, '--path', '/no/such', '--errno', 'EIO', '--dry-run=server');
    assert.equal(missing.status, 3, missing.stderr);
    assert.equal(missing.stderr, `${pid}: error: --path: /no/such does not exist in the target (no /no)\n`);

    assert.deepEqual(volumeMounts(), before, "the target's mount table did not change");
    assert.equal(injected(), false);
    assert.deepEqual(ruleIds(), [], 'the daemon holds no injection');

    for (const bad of ['--dry-run', '--dry-run=true', '--dry-run=yes']) {
      const r = d.cli('delay', pid, '--path', t.volume, '--delay', '10ms', bad);
      assert.equal(r.status, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /^error: --dry-run(=\w+)?:? (needs a value|must be none, client or server)/);
    }
    assert.equal(injected(), false, 'a refused --dry-run value injects nothing');
  });

  it("a pid sharing the host's mount namespace is refused unless --all-in-namespace; the count is printed", async () => {
    const host = spawn('sleep', ['120'], { stdio: 'ignore' });
    try {
      const refused = d.cli(
        'fault',
        `pid/${host.pid}`,
        '--path',
        '/tmp',
        '--errno',
        'EIO',
        '--dry-run=server',
      );
      assert.equal(refused.status, 1, refused.stderr);
      assert.match(
        refused.stderr,
        new RegExp(
          `^pid/${host.pid}: error: process ${host.pid} shares the host's mount namespace: the injection would cover all (\\d+) processes of it, not one app; .* say --all-in-namespace if every process is meant\\n$`,
        ),
      );
      // Asked only as a server dry run: this test must never inject into the host.
      const allowed = d.cli(
        'fault',
        `pid/${host.pid}`,
        '--path',
        '/tmp',
        '--errno',
        'EIO',
        '--all-in-namespace',
        '--dry-run=server',
      );
      const m = /\(rule fault-[0-9a-f]{8}, (\d+) processes\); server dry run: nothing changed/.exec(
        ok(allowed),
      );
      assert.ok(m && Number(m[1]) > 1, `the count of the host's processes is printed: ${allowed.stdout}`);
      assert.deepEqual(ruleIds(), []);
    } finally {
      host.kill('SIGKILL');
    }
  });

  it('durations belong to rules: each ends on its own, an added rule keeps its --duration', async () => {
    ok(d.cli('delay', pid, '--path', t.volume, '--delay', '1ms', '--name', 'short', '--duration', '10s'));
    const added = ok(
      d.cli('fault', pid, '--path', t.volume, '--errno', 'EIO', '--methods', 'mknod', '--name', 'stays'),
    );
    assert.match(
      added,
      /^pid\/\d+: added errno EIO \(all mknod\) at .* \(rule stays, 1 process\); undo with/,
    );
    assert.deepEqual(ruleIds(), [['short', 'stays']]);
    await until('the 10 s rule ends, the other stays', () => ruleIds()[0]?.length === 1);
    assert.deepEqual(ruleIds(), [['stays']]);
    assert.ok(injected(), 'the injection is still on: it has a rule left');

    const more = d.cli(
      'delay',
      pid,
      '--path',
      t.volume,
      '--delay',
      '1ms',
      '--name',
      'brief',
      '--duration',
      '8s',
    );
    assert.match(ok(more), /added delay 1ms .* \(rule brief, 1 process\), ends in 8s\n$/);
    const [entry] = JSON.parse(ok(d.cli('status', '-o', 'json'))) as StatusEntry[];
    const brief = entry.result.injections[0].rules.find((r) => r.id === 'brief');
    assert.ok(brief?.expiresAt, 'status gives the added rule its own end');
    await until("the added rule's --duration is honoured", () => ruleIds()[0]?.length === 1);
    assert.deepEqual(ruleIds(), [['stays']]);

    ok(d.cli('recover', pid));
    const before = volumeMounts();
    ok(d.cli('delay', pid, '--path', t.volume, '--delay', '1ms', '--duration', '5s'));
    assert.ok(injected());
    await until('the injection recovers with its last rule', () => !injected());
    assert.deepEqual(volumeMounts(), before);
    assert.deepEqual(ruleIds(), []);
  });

  it('the same rule twice replaces itself, and --name replaces a rule; nothing stacks', () => {
    const args = ['delay', pid, '--path', t.volume, '--delay', '5ms', '--methods', 'read'];
    assert.match(ok(d.cli(...args)), /: injected delay 5ms/);
    assert.match(
      ok(d.cli(...args)),
      /: replaced delay 5ms \(all read\) at .* \(rule delay-[0-9a-f]{8}, 1 process\)/,
    );
    assert.equal(ruleIds()[0].length, 1, 'one rule, not two identical delays');
    ok(d.cli('delay', pid, '--path', t.volume, '--delay', '5ms', '--name', 'db'));
    assert.match(
      ok(d.cli('delay', pid, '--path', t.volume, '--delay', '7ms', '--name', 'db')),
      /: replaced delay 7ms/,
    );
    assert.equal(ruleIds()[0].length, 2);
  });

  it('every refusal names the flag the person wrote, in one line, with a distinct exit code', () => {
    fs.writeFileSync(`/proc/${t.pid}/root${t.volume}/a-file`, 'x');
    const cases: [string[], number, string][] = [
      [
        ['fault', pid, '--path', t.volume, '--errno', 'EIO', '--files', '/abs/*.txt'],
        2,
        'error: --files: "/abs/*.txt" must be relative to the volume root (no leading /)\n',
      ],
      [
        ['fault', pid, '--path', t.volume, '--errno', 'EIO', '--duration', '0s'],
        2,
        'error: --duration: "0s" is zero: give a duration of more than 0, e.g. "30s"\n',
      ],
      [
        ['fault', pid, '--path', t.volume, '--errno', '9999'],
        2,
        'error: --errno: 9999 is not an errno of this system: use a name like "EIO" (or its number, 5)\n',
      ],
      [
        ['attr', pid, '--path', t.volume, '--perm', '999'],
        2,
        'error: --perm: "999" is not permission bits: give octal digits, e.g. "0444" or "0644" (at most 07777)\n',
      ],
      [
        ['fault', pid, '--path', t.volume, '--errno', 'EIO', '--methods', 'forget,getlk'],
        2,
        'error: --methods: forget, access, getlk, setlk, bmap never reach ChaosFS (the kernel keeps inode lifetimes, locks and block maps to itself, and checks access itself), so this rule would match nothing: name others, e.g. read,write,readdir\n',
      ],
      [
        ['delay', pid, '--path', t.volume, '--delay', '99999999999999999999h'],
        2,
        'error: --delay: "99999999999999999999h" is too long: at most 1h\n',
      ],
      [
        ['delay', pid, '--path', t.volume],
        2,
        'error: missing required flag --delay\n  see: kubectl iochaos delay --help\n',
      ],
      [['status', 'pid/999999'], 3, 'error: process 999999 does not exist\n  list processes with: ps -e\n'],
      [
        ['fault', pid, '--path', `${t.volume}/a-file`, '--errno', 'EIO'],
        1,
        `${pid}: error: --path: ${t.volume}/a-file is a file in the target: give the volume's directory (a mount point or any directory), and pick files in it with the rules' path glob\n`,
      ],
      [
        ['fault', 'pid/999999', '--path', '/data', '--errno', 'EIO'],
        3,
        'pid/999999: error: process 999999 does not exist\n',
      ],
    ];
    for (const [args, status, stderr] of cases) {
      const r = d.cli(...args);
      assert.equal(r.stderr, stderr, args.join(' '));
      assert.equal(r.status, status, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
    assert.equal(injected(), false);
  });

  it('the daemon refuses a huge duration as BadRequest naming the field, not Internal', async () => {
    const base = { op: 'inject', target: { pid: t.pid }, volumePath: t.volume } as const;
    const huge = '99999999999999999999h';
    const whole = await request(d.socket, {
      ...base,
      rules: [{ action: 'latency', delay: '1ms' }],
      duration: huge,
    });
    assert.deepEqual(whole.ok ? undefined : whole.error, {
      code: 'BadRequest',
      message: `duration: "${huge}" is too long: at most 576h`,
      field: 'duration',
    });
    const rule = await request(d.socket, {
      ...base,
      rules: [{ action: 'latency', delay: '1ms', duration: huge }],
    });
    assert.equal(
      rule.ok ? undefined : rule.error.message,
      `rules[0].duration: "${huge}" is too long: at most 576h`,
    );
    assert.equal(injected(), false);
  });

  it('diskfull: df in the target shows the limit as the free space, and the real space after recover', () => {
    const df = () => {
      const r = spawnSync('nsenter', ['-t', String(t.pid), '-m', 'df', '-B1', '--output=avail', t.volume], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      return Number(r.stdout.trim().split('\n')[1]);
    };
    const real = df();
    assert.ok(real > 1024 * 1024, `the tmpfs has more than 1 MiB free (${real})`);
    ok(d.cli('diskfull', pid, '--path', t.volume, '--limit', '64KiB', '--methods', 'write'));
    const full = df();
    assert.ok(full <= 64 * 1024, `df shows at most the limit free (${full})`);
    ok(d.cli('recover', pid));
    assert.ok(df() > 1024 * 1024, 'df shows the real space again');
  });

  it('-o name and -o jsonpath=, as kubectl', () => {
    const out = ok(d.cli('delay', pid, '--path', t.volume, '--delay', '1ms', '-o', 'name'));
    assert.match(out, /^injection\/inj-[0-9a-f]+\n$/);
    assert.equal(ok(d.cli('status', '-o', 'name')), out);
    assert.equal(
      ok(d.cli('status', '-o', 'jsonpath={.items[0].result.injections[0].volumePath}{"\\n"}')),
      `${t.volume}\n`,
    );
    const bad = d.cli('status', '-o', 'xml');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^error: -o xml: not an output format\n/);
  });

  it('--help puts examples before options and lists the exit codes; completion scripts and candidates', () => {
    const help = ok(d.cli('delay', '--help'));
    assert.ok(help.indexOf('Examples:') < help.indexOf('Options:'), help);
    assert.match(
      ok(d.cli('--help')),
      /Exit codes: 0 done; 1 failed; 2 bad command line .*; 3 target not found; 4 some/s,
    );
    assert.match(ok(d.cli('completion', 'bash')), /complete -o nospace -F _kubectl_iochaos kubectl-iochaos/);
    assert.match(ok(d.cli('completion', 'zsh')), /^#compdef kubectl-iochaos/);
    assert.equal(d.cli('completion', 'fish').status, 2);
    assert.equal(ok(d.cli('__complete', 'di')), 'diskfull\n:4\n');
    assert.match(ok(d.cli('__complete', 'fault', '--errno', 'ENOS')), /^ENOSPC$/m);
    assert.equal(ok(d.cli('__complete', 'delay', '')), 'pid/\npod/\ndeployment/\nstatefulset/\n:4\n');
    assert.match(ok(d.cli('__complete', 'delay', 'pid/1', '--dry')), /^--dry-run$/m);
  });
});
