/** The metrics text: what a Prometheus parser reads back from status, odd label values included. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { parseRules } from '../api/fault-spec';
import type { InjectionStatus } from './daemon';
import { metricsText, targetLabel } from './metrics';

const status = (over: Partial<InjectionStatus>): InjectionStatus => ({
  id: 'inj-1',
  target: { pid: 42 },
  volumePath: '/data',
  pids: [42],
  startedAt: '2026-01-01T00:00:00.000Z',
  state: 'active',
  rules: [],
  ...over,
});

describe('metrics text', () => {
  it('no injection: the gauge says 0 and nothing else is sampled', async () => {
    const families = parsePrometheusTextFormat(await metricsText([]));
    const gauge = families.find((f) => f.name === 'iochaos_injections')!;
    assert.deepEqual(gauge.metrics, [{ labels: { state: 'active' }, value: '0' }]);
    assert.equal(families.find((f) => f.name === 'iochaos_calls_total')?.metrics.length ?? 0, 0);
  });

  it('label values with quotes, backslashes and newlines read back as they were', async () => {
    const volumePath = '/data/"odd"\\dir\nname';
    const [rule] = parseRules([{ id: 'r "1"', action: 'fault', errno: 'EIO' }]);
    const text = await metricsText([
      status({
        volumePath,
        target: { containerId: 'containerd://abc', containerName: 'app' },
        rules: [{ id: rule.id!, rule, matched: 7, injected: 3, setAt: '2026-01-01T00:00:01.500Z' }],
        calls: { read: 10, write: 2 },
      }),
    ]);
    const families = parsePrometheusTextFormat(text);
    const one = (name: string) => families.find((f) => f.name === name)!.metrics;
    const labels = { injection: 'inj-1', volume: volumePath, target: 'app' };
    assert.deepEqual(one('iochaos_rule_matched_total'), [
      { labels: { ...labels, rule: 'r "1"', action: 'fault' }, value: '7' },
    ]);
    assert.equal(one('iochaos_faults_injected_total')[0].value, '3');
    assert.equal(Number(one('iochaos_rule_set_timestamp_seconds')[0].value), 1767225601.5);
    assert.deepEqual(
      one('iochaos_calls_total').map((m) => [m.labels?.method, m.value]),
      [
        ['read', '10'],
        ['write', '2'],
      ],
    );
  });

  it('a container without a name is named by its id', () => {
    assert.equal(targetLabel({ containerId: 'containerd://abc' }), 'containerd://abc');
    assert.equal(targetLabel({ pid: 7 }), 'pid/7');
  });

  it('the documented Grafana panel asks only for metrics the daemon writes', async () => {
    // From dist/sidecar/daemon/ to the repository's docs/.
    const panel = fs.readFileSync(
      path.resolve(__dirname, '../../../docs/grafana-iochaos-panel.json'),
      'utf8',
    );
    const exprs = (JSON.parse(panel) as { targets: { expr: string }[] }).targets.map((t) => t.expr);
    const [rule] = parseRules([{ action: 'fault', errno: 'EIO' }]);
    const written = new Set(
      parsePrometheusTextFormat(
        await metricsText([
          status({ rules: [{ id: 'r', rule, matched: 1, injected: 1 }], calls: { read: 1 } }),
        ]),
      ).map((f) => f.name),
    );
    const asked = exprs.flatMap((e) => e.match(/iochaos_\w+/g) ?? []);
    assert.ok(asked.length >= 3);
    for (const name of asked) assert.ok(written.has(name), `${name} is written by the daemon`);
  });
});
