/**
 * `kubectl iochaos` on pods, end to end through the real kubectl: kubectl finds the plugin on PATH; the
 * plugin reads the stand-in's kubeconfig, reads the pod, execs `chaosfs ctl` in its sidecar over
 * WebSocket v5.channel.k8s.io; that runs the real CLI against a real daemon, which finds the target by
 * the pod's containerID (the target sits in a real cgroup named by it) and injects into the running
 * process, which sees the delay, until recover; `metrics` takes the same exec path.
 */
import assert from 'node:assert/strict';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requireRootAndFuse } from '../support/root';
import { testDaemon, type TestDaemon } from '../support/daemon';
import { startTarget, type Target } from '../support/target';
import { mounts } from '../support/mounts';
import { fdMountId } from '../support/fdinfo';
import { PLUGIN_CLI } from '../support/daemon';
import { defaultRuleId } from '../../plugin/commands/inject';
import {
  containerCgroup,
  podObject,
  sidecarContainer,
  startCluster,
  type Cluster,
  type ContainerCgroup,
} from './support';

const NS = 'shop';

describe('kubectl iochaos on pods, through the real kubectl and a real daemon', function () {
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
      podObject({ name: 'web-0', namespace: NS, labels: { app: 'web' }, apps: [{ name: 'app', id: cg.id }] }),
    );
    // Same selector, but created without the webhook: one line of its own, and a non-zero exit.
    cluster.api.create(
      '',
      'pods',
      NS,
      podObject({
        name: 'web-1',
        namespace: NS,
        labels: { app: 'web' },
        apps: [{ name: 'app', id: 'f'.repeat(64) }],
        injected: false,
      }),
    );
    // Another namespace's injected pod, whose daemon does not answer: status -A reports it, exit 4.
    cluster.api.create('', 'namespaces', undefined, { metadata: { name: 'data' } });
    cluster.containers.set(
      'data/db-0/chaosfs',
      sidecarContainer(cluster.dir, path.join(cluster.dir, 'gone.sock')),
    );
    cluster.api.create(
      '',
      'pods',
      'data',
      podObject({ name: 'db-0', namespace: 'data', apps: [{ name: 'db', id: 'e'.repeat(64) }] }),
    );
    cluster.api.create(
      '',
      'pods',
      'data',
      podObject({
        name: 'plain-0',
        namespace: 'data',
        apps: [{ name: 'x', id: 'd'.repeat(64) }],
        injected: false,
      }),
    );
    cluster.api.create('apps', 'deployments', NS, {
      metadata: { name: 'web' },
      spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } } } },
    });
  });
  after(async () => {
    // Looked at before cleanup, which would unmount a leftover and hide it.
    const left = d ? mounts().filter((m) => m.mountpoint.startsWith(d.dir)) : [];
    await t?.kill();
    cg?.remove();
    await d?.cleanup();
    await cluster?.close();
    assert.deepEqual(left, [], 'no ChaosFS mount is left behind');
  });

  it('is found by kubectl plugin list', async () => {
    const r = await cluster.kubectl(['plugin', 'list']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\/kubectl-iochaos$/m);
    assert.equal(
      fs.realpathSync(
        r.stdout
          .trim()
          .split('\n')
          .find((l) => l.endsWith('kubectl-iochaos'))!,
      ),
      PLUGIN_CLI,
    );
  });

  it('injects into the pod, the app sees the delay; status shows it; recover puts it back', async () => {
    const before = t.mountTable();
    const heldMount = fdMountId(t.pid, '/held.dat');

    const inject = await cluster.kubectl([
      'iochaos',
      'delay',
      'pod/web-0',
      '-n',
      NS,
      '--path',
      t.volume,
      '--delay',
      '300ms',
      '--methods',
      'read',
    ]);
    assert.equal(inject.status, 0, inject.stderr);
    assert.match(
      inject.stdout,
      new RegExp(
        `^pod/web-0 \\(app\\): injected delay 300ms \\(all read\\) at ${t.volume} \\(rule delay-[0-9a-f]{8}, 1 process\\); undo with: kubectl iochaos recover pod/web-0 -n ${NS} -c app\\n$`,
      ),
    );
    const call = cluster.exec.calls.at(-1)!;
    assert.deepEqual(call, {
      namespace: NS,
      pod: 'web-0',
      container: 'chaosfs',
      command: ['chaosfs', 'ctl'],
    });
    assert.notEqual(fdMountId(t.pid, '/held.dat'), heldMount, 'the held fd was moved onto ChaosFS');
    const slow = await t.ask({ op: 'readHeld' });
    assert.equal(slow.value, 'held data');
    assert.ok(slow.ms >= 300, `the app's read on a file it held open was delayed (${slow.ms} ms)`);

    const table = await cluster.kubectl(['iochaos', 'status', 'pod/web-0', '-n', NS]);
    assert.equal(table.status, 0, table.stderr);
    const [header, row] = table.stdout.trimEnd().split('\n');
    assert.match(
      header,
      /^ID\s+TARGET\s+CONTAINER\s+PATH\s+STATE\s+RULES\s+FAULTED\/MATCHED\s+AGE\s+ENDS IN$/,
    );
    assert.match(
      row,
      new RegExp(
        `^inj-\\w+\\s+pod/web-0\\s+app\\s+${t.volume}\\s+active\\s+latency\\(300ms\\)\\s+[1-9]\\d*/[1-9]\\d*\\s+\\d+s\\s+-$`,
      ),
    );
    const json = await cluster.kubectl(['iochaos', 'status', 'pod/web-0', '-n', NS, '-o', 'json']);
    const [entry] = JSON.parse(json.stdout);
    assert.equal(entry.target, 'pod/web-0');
    assert.equal(entry.namespace, NS);
    assert.equal(entry.result.injections[0].target.containerId, `containerd://${cg.id}`);
    assert.deepEqual(entry.result.injections[0].pids, [t.pid]);

    const recover = await cluster.kubectl(['iochaos', 'recover', 'pod/web-0', '-n', NS]);
    assert.equal(recover.status, 0, recover.stderr);
    assert.equal(recover.stdout, `pod/web-0 (app): recovered ${t.volume}\n`);
    assert.equal(fdMountId(t.pid, '/held.dat'), heldMount, 'the held fd is back on the original volume');
    assert.equal((await t.ask({ op: 'readHeld' })).value, 'held data');
    assert.deepEqual(t.mountTable(), before, "the target's mount table is as before");

    const none = await cluster.kubectl(['iochaos', 'status', 'pod/web-0', '-n', NS]);
    assert.equal(none.status, 0, none.stderr);
    assert.equal(none.stdout, '');
    assert.equal(none.stderr, 'No injections found in pod/web-0.\n');
  });

  it('a path the container does not have: the daemon says so, the plugin says where to look, exit 3', async () => {
    const r = await cluster.kubectl([
      'iochaos',
      'fault',
      'pod/web-0',
      '-n',
      NS,
      '--path',
      '/no/such/dir',
      '--errno',
      'EIO',
    ]);
    assert.equal(r.status, 3, 'not found: exit 3');
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /^pod\/web-0: error: --path: \/no\/such\/dir does not exist in the target \(no \/no\)\n/,
    );
    assert.match(
      r.stderr,
      /--path is a directory inside container app; see its mounts with: kubectl exec web-0 -n shop -c app -- cat \/proc\/self\/mounts/,
    );
  });

  it('deployment/NAME: every pod it owns, one line each, in parallel; exit 4 because one is not injected', async () => {
    const before = t.mountTable();
    const r = await cluster.kubectl([
      'iochaos',
      'delay',
      'deployment/web',
      '-n',
      NS,
      '--path',
      t.volume,
      '--delay',
      '50ms',
      '--duration',
      '30s',
    ]);
    assert.equal(r.status, 4, `partial failure: exit 4 (${r.stderr})`);
    assert.match(
      r.stdout,
      new RegExp(
        `^pod/web-0 \\(app\\): injected delay 50ms \\(all calls\\) at ${t.volume} \\(rule delay-[0-9a-f]{8}, 1 process\\), recovers in 30s\\n$`,
      ),
    );
    assert.match(
      r.stderr,
      /^pod\/web-1: error: pod shop\/web-1 is not injected: it has no chaosfs sidecar\n/m,
    );
    const rec = await cluster.kubectl(['iochaos', 'recover', '-l', 'app=web', '-n', NS, '-o', 'json']);
    assert.equal(rec.status, 4);
    const out = JSON.parse(rec.stdout) as { target: string; ok: boolean }[];
    assert.deepEqual(out.map((x) => [x.target, x.ok]).sort(), [
      ['pod/web-0', true],
      ['pod/web-1', false],
    ]);
    // The target's own table (the volume exists only in its namespace), not the test's.
    assert.deepEqual(t.mountTable(), before, "the target's mount table is as before");
  });

  it('--dry-run=server: the sidecar checks the request against the pod, and nothing is injected', async () => {
    // Mounts at and under the volume: other jobs' mounts elsewhere come and go meanwhile.
    const volumeMounts = () => t.mountTable().filter((l) => l.split(' ')[2].startsWith(t.volume));
    const before = volumeMounts();
    const args = ['iochaos', 'delay', 'pod/web-0', '-n', NS, '--path', `${t.volume}/`, '--delay', '10ms'];
    const r = await cluster.kubectl([...args, '--dry-run=server']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `^pod/web-0 \\(app\\): would inject delay 10ms \\(all calls\\) at ${t.volume} \\(rule delay-[0-9a-f]{8}, 1 process\\); server dry run: nothing changed\\n$`,
      ),
    );
    assert.deepEqual(cluster.exec.calls.at(-1)?.pod, 'web-0', 'the sidecar was asked');
    const bad = await cluster.kubectl([...args.slice(0, 6), '/nope', '--delay', '10ms', '--dry-run=server']);
    assert.equal(bad.status, 3, bad.stderr);
    assert.match(bad.stderr, /^pod\/web-0: error: --path: \/nope does not exist in the target/);
    assert.deepEqual(volumeMounts(), before, 'nothing was mounted in the target');
    const status = await cluster.kubectl(['iochaos', 'status', 'pod/web-0', '-n', NS]);
    assert.equal(status.stderr, 'No injections found in pod/web-0.\n');
  });

  it('status -A and -n NS: every injected pod asked in parallel, rules, counters and time left; -o name, jsonpath', async () => {
    const inject = await cluster.kubectl([
      'iochaos',
      'delay',
      'pod/web-0',
      '-n',
      NS,
      '--path',
      t.volume,
      '--delay',
      '1ms',
      '--duration',
      '5m',
    ]);
    assert.equal(inject.status, 0, inject.stderr);
    try {
      const all = await cluster.kubectl(['iochaos', 'status', '-A']);
      assert.equal(all.status, 4, `one pod answered, one did not: exit 4 (${all.stderr})`);
      const [header, row, ...rest] = all.stdout.trimEnd().split('\n');
      assert.match(
        header,
        /^NAMESPACE\s+ID\s+TARGET\s+CONTAINER\s+PATH\s+STATE\s+RULES\s+FAULTED\/MATCHED\s+AGE\s+ENDS IN$/,
      );
      assert.match(
        row,
        new RegExp(
          `^shop\\s+inj-\\w+\\s+pod/web-0\\s+app\\s+${t.volume}\\s+active\\s+latency\\(1ms, [45]m left\\)\\s+\\d+/\\d+\\s+\\d+s\\s+[45]m$`,
        ),
      );
      assert.deepEqual(rest, []);
      assert.match(all.stderr, /^pod\/db-0: error: the chaosfs daemon in pod data\/db-0 does not answer/);
      assert.doesNotMatch(all.stderr, /plain-0/, 'a pod without the sidecar is not asked');

      const ns = await cluster.kubectl(['iochaos', 'status', '-n', NS]);
      assert.equal(ns.status, 0, ns.stderr);
      assert.match(ns.stdout, /^ID\s+TARGET/);
      assert.equal(ns.stdout.trimEnd().split('\n').length, 2);

      const names = await cluster.kubectl(['iochaos', 'status', '-n', NS, '-o', 'name']);
      assert.match(names.stdout, /^injection\/inj-[0-9a-f]+\n$/);
      const jp = await cluster.kubectl(['iochaos', 'status', '-A', '-o', 'jsonpath={.items[*].target}']);
      assert.equal(jp.status, 4);
      assert.deepEqual(jp.stdout.split(' ').sort(), ['pod/db-0', 'pod/web-0']);
    } finally {
      const rec = await cluster.kubectl(['iochaos', 'recover', 'pod/web-0', '-n', NS]);
      assert.equal(rec.status, 0, rec.stderr);
    }
  });

  it('--dry-run=client prints the request with the resolved container id, and sends nothing', async () => {
    const calls = cluster.exec.calls.length;
    const r = await cluster.kubectl([
      'iochaos',
      'delay',
      'pod/web-0',
      '-n',
      NS,
      '--path',
      '/data',
      '--delay',
      '10ms',
      '--percent',
      '50',
      '--dry-run=client',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [
      {
        target: 'pod/web-0',
        namespace: NS,
        container: 'app',
        request: {
          op: 'inject',
          target: { containerId: `containerd://${cg.id}`, containerName: 'app' },
          volumePath: '/data',
          rules: [
            {
              action: 'latency',
              percent: 50,
              delay: '10ms',
              id: defaultRuleId('delay', { action: 'latency', percent: 50, delay: '10ms' }),
            },
          ],
        },
      },
    ]);
    assert.equal(cluster.exec.calls.length, calls, 'no exec');
  });

  it('apply -f: a Chaos Mesh IOChaos (path absolute under volumePath) runs on the pod its selector picks', async () => {
    const file = path.join(cluster.dir, 'io-latency.yaml');
    fs.writeFileSync(
      file,
      [
        'apiVersion: chaos-mesh.org/v1alpha1',
        'kind: IOChaos',
        'metadata:',
        '  name: io-latency-example',
        `  namespace: ${NS}`,
        'spec:',
        '  action: latency',
        '  mode: one',
        '  selector:',
        '    labelSelectors:',
        '      app: web',
        '    annotationSelectors:',
        '      iochaos.dev/inject: "true"',
        `  volumePath: ${t.volume}`,
        `  path: '${t.volume}/**/*'`,
        '  delay: 300ms',
        '  percent: 100',
        '  methods: [READ]',
        '  duration: 60s',
        '',
      ].join('\n'),
    );
    const r = await cluster.kubectl(['iochaos', 'apply', '-f', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^pod\/web-0 \(app\): injected delay 300ms \(100% of read on \*\*\/\*\) at .* \(rule shop\/io-latency-example, 1 process\), recovers in 60s\n$/,
    );
    const onChaosFs = fdMountId(t.pid, '/held.dat');
    const slow = await t.ask({ op: 'readHeld' });
    assert.ok(slow.ms >= 300, `the IOChaos delay reached the app (${slow.ms} ms)`);
    // Applying it again replaces its rule (id namespace/name): the delay does not double.
    const again = await cluster.kubectl(['iochaos', 'apply', '-f', file]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /: replaced delay 300ms .* \(rule shop\/io-latency-example, 1 process\)/);
    const status = await cluster.kubectl(['iochaos', 'status', 'pod/web-0', '-n', NS, '-o', 'json']);
    const [entry] = JSON.parse(status.stdout) as { result: { injections: { rules: { id: string }[] }[] } }[];
    assert.deepEqual(
      entry.result.injections[0].rules.map((r) => r.id),
      ['shop/io-latency-example'],
    );
    const rec = await cluster.kubectl(['iochaos', 'recover', 'pod/web-0', '-n', NS]);
    assert.equal(rec.status, 0, rec.stderr);
    assert.notEqual(fdMountId(t.pid, '/held.dat'), onChaosFs, 'recovery moved the held fd off ChaosFS');
    assert.equal((await t.ask({ op: 'readHeld' })).value, 'held data');
  });

  // The same exec path status takes, no port in the sidecar.
  it("metrics prints the sidecar's counters as Prometheus text, the numbers of status", async () => {
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
