/**
 * `kubectl iochaos metrics pod/NAME` through the real kubectl, the stand-in API server's pods/exec and
 * a real daemon injecting into a real process: the same exec path status takes, no port in the sidecar.
 */
import assert from 'node:assert/strict';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { requireRootAndFuse } from '../support/root';
import { testDaemon, type TestDaemon } from '../support/daemon';
import { startTarget, type Target } from '../support/target';
import {
  containerCgroup,
  podObject,
  sidecarContainer,
  startCluster,
  type Cluster,
  type ContainerCgroup,
} from './support';

const NS = 'shop';

describe('kubectl iochaos metrics on a pod, through pods/exec', function () {
  this.timeout(90_000);
  let cluster: Cluster;
  let d: TestDaemon;
  let t: Target;
  let cg: ContainerCgroup;

  before(async () => {
    requireRootAndFuse();
    cluster = await startCluster(NS);
    d = testDaemon();
    await d.start();
    t = await startTarget();
    cg = containerCgroup();
    cg.add(t.pid);
    cluster.containers.set(`${NS}/web-0/chaosfs`, sidecarContainer(cluster.dir, d.socket));
    cluster.api.create(
      '',
      'pods',
      NS,
      podObject({ name: 'web-0', namespace: NS, apps: [{ name: 'app', id: cg.id }] }),
    );
  });
  after(async () => {
    await t?.kill();
    cg?.remove();
    await d?.cleanup();
    await cluster?.close();
  });

  it("prints the sidecar's counters as Prometheus text, the numbers of status", async () => {
    const kubectl = async (...args: string[]) => {
      const r = await cluster.kubectl(['iochaos', ...args, '-n', NS]);
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    await kubectl(
      'fault',
      'pod/web-0',
      '--path',
      t.volume,
      '--errno',
      'EIO',
      '--methods',
      'write',
      '--files',
      'log.txt',
    );
    for (let i = 0; i < 2; i++) assert.equal((await t.ask({ op: 'append', data: 'lost' })).code, 'EIO');

    const [entry] = JSON.parse(await kubectl('status', 'pod/web-0', '-o', 'json'));
    const [rule] = entry.result.injections[0].rules as { id: string; matched: number; injected: number }[];
    assert.ok(rule.injected >= 2, `the rule fired on the appends (${rule.injected})`);
    const families = parsePrometheusTextFormat(await kubectl('metrics', 'pod/web-0'));
    assert.equal(cluster.exec.calls.at(-1)?.pod, 'web-0', 'the sidecar was asked through pods/exec');
    const sample = (name: string) => {
      const found = families.find((f) => f.name === name)?.metrics ?? [];
      assert.equal(found.length, 1, `one ${name} sample`);
      return found[0];
    };
    const injected = sample('iochaos_faults_injected_total');
    assert.deepEqual(
      { ...injected.labels },
      {
        injection: entry.result.injections[0].id,
        volume: t.volume,
        target: 'app',
        rule: rule.id,
        action: 'fault',
      },
    );
    assert.equal(Number(injected.value), rule.injected);
    assert.equal(Number(sample('iochaos_rule_matched_total').value), rule.matched);
    assert.equal(sample('iochaos_injections').value, '1');

    await kubectl('recover', 'pod/web-0');
  });
});
