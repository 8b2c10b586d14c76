/**
 * Proof of effect on a real injection into a local process: status says when a rule was set, hints at
 * what to check for a rule whose glob matches nothing (and not for one that acts), and `metrics`
 * prints Prometheus text whose numbers are status's own.
 */
import assert from 'node:assert/strict';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { requireRootAndFuse } from '../support/root';
import { testDaemon, type TestDaemon } from '../support/daemon';
import { startTarget, type Target } from '../support/target';
import { until } from '../support/until';

interface RuleEntry {
  id: string;
  matched: number;
  injected: number;
  setAt?: string;
  hint?: string;
}
interface InjectionEntry {
  id: string;
  state: string;
  volumePath: string;
  rules: RuleEntry[];
  calls?: Record<string, number>;
}

describe('proof of effect: status hints and metrics on a local process', () => {
  let d: TestDaemon;
  let t: Target | undefined;

  beforeEach(async () => {
    requireRootAndFuse();
    d = testDaemon();
    // The 30 s threshold, shortened: the hint logic is the same, the test need not wait.
    await d.start({ IOCHAOS_HINT_AFTER: '1s' });
  });
  afterEach(async () => {
    await t?.kill();
    t = undefined;
    await d.cleanup();
  });

  const ok = (r: { status: number | null; stdout: string; stderr: string }) => {
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  const injection = (): InjectionEntry => {
    const [entry] = JSON.parse(ok(d.cli('status', '-o', 'json'))) as {
      result: { injections: InjectionEntry[] };
    }[];
    assert.equal(entry.result.injections.length, 1);
    return entry.result.injections[0];
  };

  it('a rule whose glob matches nothing is named with what to check; a rule that acts is not', async () => {
    t = await startTarget();
    const pid = `pid/${t.pid}`;
    ok(
      d.cli(
        'fault',
        pid,
        '--path',
        t.volume,
        '--errno',
        'EIO',
        '--methods',
        'write',
        '--files',
        'nomatch/**',
      ),
    );
    ok(d.cli('delay', pid, '--path', t.volume, '--delay', '1ms', '--methods', 'write', '--files', 'log.txt'));
    for (let i = 0; i < 3; i++) assert.equal((await t.ask({ op: 'append', data: `record-${i}` })).ok, true);

    let s = injection();
    await until('status hints at the rule that matched nothing', () => {
      s = injection();
      return s.rules[0].hint !== undefined;
    });
    const [idle, acting] = s.rules;
    assert.match(idle.hint!, /matched no call in its first 1s/);
    assert.match(
      idle.hint!,
      new RegExp(`path glob "nomatch/\\*\\*" \\(relative to the volume ${t.volume}\\)`),
    );
    assert.match(idle.hint!, /its methods \(write\)/);
    assert.match(idle.hint!, /the app called .*write ×\d+/, 'the hint names what the app does call');
    assert.match(idle.hint!, /page-fault granularity/);
    assert.equal(idle.matched, 0);

    assert.equal(acting.hint, undefined, 'a rule that fired has no hint');
    assert.ok(acting.injected >= 3, `the acting rule fired on every append (${acting.injected})`);
    for (const r of s.rules) {
      assert.ok(r.setAt && Date.parse(r.setAt) <= Date.now(), `rule ${r.id} says when it was set`);
    }
    assert.ok(Date.parse(idle.setAt!) <= Date.parse(acting.setAt!), 'each rule has its own clock');
    assert.ok((s.calls?.write ?? 0) >= 3, 'per-op calls are in the json');

    const text = ok(d.cli('status'));
    assert.match(text, /Rules with no effect yet:/);
    assert.match(text, new RegExp(`  ${pid} ${t.volume} ${idle.id} \\(set \\d+s ago\\): matched no call`));
    assert.doesNotMatch(text, new RegExp(`${acting.id} \\(set`), 'the acting rule is not listed');
    const [header, row] = ok(d.cli('status', '-o', 'wide')).split('\n');
    assert.match(header, /\bRULES SET\b/);
    assert.match(row, /\s\d+s,\d+s\s/, 'wide output gives each rule its age');
    ok(d.cli('recover', pid));
  });

  it('metrics: Prometheus text that a parser reads, with the numbers of status -o json', async () => {
    t = await startTarget();
    const pid = `pid/${t.pid}`;
    ok(d.cli('fault', pid, '--path', t.volume, '--errno', 'EIO', '--methods', 'write', '--files', 'log.txt'));
    ok(d.cli('delay', pid, '--path', t.volume, '--delay', '1ms', '--methods', 'read'));
    for (let i = 0; i < 3; i++) {
      assert.equal((await t.ask({ op: 'append', data: 'lost' })).code, 'EIO');
      assert.equal((await t.ask({ op: 'readHeld' })).value, 'held data');
    }
    // The target is idle now: status and metrics read the same counters.
    const s = injection();
    const families = parsePrometheusTextFormat(ok(d.cli('metrics', pid)));
    const family = (name: string) => {
      const f = families.find((x) => x.name === name);
      assert.ok(f, `${name} is in the metrics`);
      return f;
    };
    const value = (name: string, labels: Record<string, string>) => {
      const found = family(name).metrics.filter((m) =>
        Object.entries(labels).every(([k, v]) => m.labels?.[k] === v),
      );
      assert.equal(found.length, 1, `one ${name} sample for ${JSON.stringify(labels)}`);
      return Number(found[0].value);
    };

    assert.equal(family('iochaos_injections').type, 'GAUGE');
    assert.equal(value('iochaos_injections', { state: 'active' }), 1);
    const of = { injection: s.id, volume: t.volume, target: pid };
    for (const r of s.rules) {
      assert.equal(value('iochaos_rule_matched_total', { ...of, rule: r.id }), r.matched, `${r.id} matched`);
      assert.equal(
        value('iochaos_faults_injected_total', { ...of, rule: r.id }),
        r.injected,
        `${r.id} injected`,
      );
      assert.equal(
        value('iochaos_rule_set_timestamp_seconds', { ...of, rule: r.id }),
        Date.parse(r.setAt!) / 1000,
      );
    }
    assert.ok(s.rules[0].injected >= 3 && s.rules[1].injected >= 3, 'both rules acted');
    assert.equal(family('iochaos_calls_total').type, 'COUNTER');
    const calls = Object.entries(s.calls ?? {});
    assert.ok(calls.length > 0);
    for (const [method, n] of calls) assert.equal(value('iochaos_calls_total', { ...of, method }), n, method);
    assert.equal(family('iochaos_calls_total').metrics.length, calls.length, 'no op beyond those of status');
    ok(d.cli('recover', pid));
    const after = parsePrometheusTextFormat(ok(d.cli('metrics')));
    assert.equal(after.find((f) => f.name === 'iochaos_injections')?.metrics[0]?.value, '0');
  });
});
