/**
 * Chaos Mesh IOChaos manifests as iochaos requests. The four examples of Chaos Mesh's "Simulate File
 * I/O Faults" page (latency, fault, attrOverride, mistake) translate to the rule Chaos Mesh means:
 * the same pods, volume, files (its absolute `path` made relative to the volume, and matched as
 * ChaosFS matches), methods, percent and duration. What iochaos cannot honour is named and refused.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { parseRules, type Rule } from '../../sidecar/api/fault-spec';
import { Filter } from '../../sidecar/faults/filter';
import { pickByMode, relativeGlob, translateIOChaos } from '../../plugin/chaos-mesh/iochaos';
import { UserError } from '../../plugin/errors';
import { containerId, podObject, startCluster, type Cluster } from './support';

const manifest = (name: string, spec: string) =>
  YAML.parse(
    `apiVersion: chaos-mesh.org/v1alpha1
kind: IOChaos
metadata:
  name: ${name}
  namespace: chaos-testing
spec:
  mode: one
  selector:
    labelSelectors:
      app: etcd
  volumePath: /var/run/etcd
${spec}`,
  ) as unknown;

// As the documentation writes them (its mistake example's typos, "chaos-mesh. rg" and "special:", fixed).
const LATENCY = manifest(
  'io-latency-example',
  `  action: latency
  path: '/var/run/etcd/**/*'
  delay: '100ms'
  percent: 50
  duration: '400s'`,
);
const FAULT = manifest(
  'io-fault-example',
  `  action: fault
  path: /var/run/etcd/**/*
  errno: 5
  percent: 50
  duration: '400s'`,
);
const ATTR = manifest(
  'io-attr-example',
  `  action: attrOverride
  path: /var/run/etcd/**/*
  attr:
    perm: 72
  percent: 10
  duration: '400s'`,
);
const MISTAKE = manifest(
  'io-mistake-example',
  `  action: mistake
  path: /var/run/etcd/**/*
  mistake:
    filling: zero
    maxOccurrences: 1
    maxLength: 10
  methods:
    - READ
    - WRITE
  percent: 10
  duration: '400s'`,
);

const matches = (rule: Rule, file: string, method: 'read' | 'write' | 'getattr' = 'read') =>
  new Filter(rule, () => 0).matches({ op: method as never, methods: [method], path: file });

describe('kubectl iochaos apply: Chaos Mesh IOChaos manifests', function () {
  this.timeout(60_000);

  it("the documentation's four examples translate to the requests Chaos Mesh means", () => {
    const common = {
      namespaces: ['chaos-testing'],
      labelSelector: 'app=etcd',
      fieldSelector: undefined,
      annotations: {},
      phases: undefined,
      podNames: undefined,
      nodes: undefined,
      mode: { kind: 'one' },
      containerNames: undefined,
      volumePath: '/var/run/etcd',
    };
    // The rule's id is the IOChaos' namespace/name (applying it again replaces it); its duration is the rule's.
    const rule = (name: string) => ({ id: `chaos-testing/${name}`, duration: '400s' });
    assert.deepEqual(translateIOChaos(LATENCY, 'default'), {
      ...common,
      name: 'io-latency-example',
      rule: { ...rule('io-latency-example'), action: 'latency', path: '**/*', percent: 50, delay: '100ms' },
    });
    assert.deepEqual(translateIOChaos(FAULT, 'default'), {
      ...common,
      name: 'io-fault-example',
      rule: { ...rule('io-fault-example'), action: 'fault', path: '**/*', percent: 50, errno: 5 },
    });
    assert.deepEqual(translateIOChaos(ATTR, 'default'), {
      ...common,
      name: 'io-attr-example',
      rule: {
        ...rule('io-attr-example'),
        action: 'attrOverride',
        path: '**/*',
        percent: 10,
        attr: { perm: 72 },
      },
    });
    assert.deepEqual(translateIOChaos(MISTAKE, 'default'), {
      ...common,
      name: 'io-mistake-example',
      rule: {
        ...rule('io-mistake-example'),
        action: 'mistake',
        path: '**/*',
        methods: ['read', 'write'],
        percent: 10,
        mistake: { filling: 'zero', maxOccurrences: 1, maxLength: 10 },
      },
    });
  });

  it('the translated rules are valid fault specs, and their path covers every file in the volume as ChaosFS matches it', () => {
    const rules = parseRules([LATENCY, FAULT, ATTR, MISTAKE].map((m) => translateIOChaos(m, 'default').rule));
    for (const rule of rules) {
      for (const file of ['member/snap/db', 'member/wal/0.wal', 'lock', '.hidden']) {
        assert.ok(
          matches(rule, file, rule.action === 'attrOverride' ? 'getattr' : 'read'),
          `${rule.action}: ${file}`,
        );
      }
    }
    const [, , , mistake] = rules;
    assert.equal(matches(mistake, 'member/snap/db', 'getattr'), false, 'mistake: read and write only');
    assert.equal(parseRules([translateIOChaos(FAULT, 'default').rule])[0].action, 'fault');
    assert.equal((rules[1] as { errno: number }).errno, 5, 'errno 5 is EIO');
  });

  it('path: absolute under volumePath becomes relative; the volume itself means every file; outside is refused', () => {
    assert.equal(relativeGlob('/var/run/etcd/member/**', '/var/run/etcd'), 'member/**');
    assert.equal(relativeGlob('/var/run/etcd/member/snap/db', '/var/run/etcd/'), 'member/snap/db');
    assert.equal(relativeGlob('/var/run/etcd', '/var/run/etcd'), undefined);
    assert.equal(relativeGlob('*.log', '/var/log'), '*.log');
    assert.throws(
      () => relativeGlob('/etc/passwd', '/var/run/etcd'),
      /spec\.path \/etc\/passwd is not under spec\.volumePath \/var\/run\/etcd/,
    );
    assert.throws(() => relativeGlob('/var/run/etcdx/a', '/var/run/etcd'), UserError);
  });

  it('names and refuses what it cannot honour, all at once', () => {
    const doc = YAML.parse(`apiVersion: chaos-mesh.org/v1alpha1
kind: IOChaos
metadata: {name: too-much}
spec:
  action: latency
  mode: all
  delay: 10ms
  errno: 5
  remoteCluster: east
  scheduler: {cron: '@every 1m'}
  selector:
    nodeSelectors: {disk: ssd}
  volumePath: /data
`) as unknown;
    assert.throws(
      () => translateIOChaos(doc, 'default'),
      (err: UserError) => {
        assert.match(err.message, /^IOChaos too-much cannot be run as written:\n/);
        assert.match(
          err.message,
          /- spec\.remoteCluster is not supported: iochaos runs against the cluster of your kubeconfig context; use --context instead/,
        );
        assert.match(err.message, /- spec\.scheduler is not supported\n/);
        assert.match(
          err.message,
          /- spec\.selector\.nodeSelectors is not supported: selecting pods by node labels needs the nodes API/,
        );
        assert.match(err.message, /- spec\.errno does not apply to action latency; remove it/);
        return true;
      },
    );
    assert.throws(
      () => translateIOChaos({ ...(LATENCY as object), kind: 'NetworkChaos' }, 'd'),
      /NetworkChaos \(chaos-mesh\.org\/v1alpha1\) is not an IOChaos/,
    );
    assert.throws(() => {
      const m = LATENCY as { spec: object };
      return translateIOChaos({ ...m, spec: { ...m.spec, mode: 'fixed-percent', value: '150' } }, 'd');
    }, /spec\.value "150": mode fixed-percent needs a percent from 1 to 100/);
    assert.throws(
      () => translateIOChaos(LATENCY, 'd', 'other'),
      /IOChaos io-latency-example is in namespace chaos-testing, but -n says other/,
    );
  });

  it('modes pick as Chaos Mesh does: one, all, fixed, fixed-percent, random-max-percent', () => {
    const pods = Array.from({ length: 10 }, (_, i) => i);
    assert.equal(pickByMode(pods, { kind: 'one' }).length, 1);
    assert.deepEqual(pickByMode(pods, { kind: 'all' }), pods);
    assert.equal(pickByMode(pods, { kind: 'fixed', count: 3 }).length, 3);
    assert.equal(pickByMode(pods, { kind: 'fixed', count: 30 }).length, 10);
    assert.equal(pickByMode(pods, { kind: 'fixed-percent', percent: 50 }).length, 5);
    assert.equal(new Set(pickByMode(pods, { kind: 'fixed-percent', percent: 50 })).size, 5, 'distinct pods');
    for (let i = 0; i < 50; i++) {
      const n = pickByMode(pods, { kind: 'random-max-percent', percent: 40 }).length;
      assert.ok(n >= 1 && n <= 4, `random-max-percent 40 of 10 picks 1..4, got ${n}`);
    }
    assert.throws(
      () => pickByMode([1, 2], { kind: 'fixed-percent', percent: 10 }),
      /mode fixed-percent selects no pod out of the 2 that match/,
    );
  });

  describe('through the real kubectl', () => {
    let cluster: Cluster;
    const ids = { a: containerId(), b: containerId(), c: containerId() };
    before(async () => {
      cluster = await startCluster('chaos-testing');
      const pod = (name: string, labels: Record<string, string>, id: string) =>
        cluster.api.create(
          '',
          'pods',
          'chaos-testing',
          podObject({ name, namespace: 'chaos-testing', labels, apps: [{ name: 'etcd', id }] }),
        );
      pod('etcd-0', { app: 'etcd' }, ids.a);
      pod('etcd-1', { app: 'etcd' }, ids.b);
      pod('web-0', { app: 'web' }, ids.c);
    });
    after(async () => cluster?.close());

    const apply = async (doc: unknown, ...args: string[]) => {
      const file = path.join(cluster.dir, `m-${Math.random().toString(36).slice(2)}.yaml`);
      fs.writeFileSync(file, YAML.stringify(doc));
      return cluster.kubectl(['iochaos', 'apply', '-f', file, ...args]);
    };

    it('--dry-run: the selector and mode pick the pods, each gets the translated request', async () => {
      const all = {
        ...(MISTAKE as { spec: object }),
        spec: { ...(MISTAKE as { spec: object }).spec, mode: 'all' },
      };
      const r = await apply(all, '--dry-run=client', '-o', 'yaml');
      assert.equal(r.status, 0, r.stderr);
      const planned = YAML.parse(r.stdout) as {
        target: string;
        container: string;
        request: { target: { containerId: string } };
      }[];
      assert.deepEqual(planned.map((p) => p.target).sort(), ['pod/etcd-0', 'pod/etcd-1']);
      assert.deepEqual(
        planned.map((p) => p.request.target.containerId).sort(),
        [`containerd://${ids.a}`, `containerd://${ids.b}`].sort(),
      );
      assert.deepEqual((planned[0].request as unknown as { rules: unknown[] }).rules, [
        translateIOChaos(MISTAKE, 'x').rule,
      ]);
      const one = await apply(LATENCY, '--dry-run=client');
      assert.equal(JSON.parse(one.stdout).length, 1, 'mode one: one pod');
      assert.equal(cluster.exec.calls.length, 0, 'dry run execs nothing');
    });

    it('-l narrows the selector, -c picks the container; selector.pods is taken as given, as Chaos Mesh does', async () => {
      const spec = (LATENCY as { spec: Record<string, unknown> }).spec;
      const plan = async (doc: unknown, ...args: string[]) => {
        const r = await apply(doc, '--dry-run=client', ...args);
        return {
          ...r,
          planned: r.status === 0 ? (JSON.parse(r.stdout) as { target: string; container: string }[]) : [],
        };
      };
      const all = { ...(LATENCY as object), spec: { ...spec, mode: 'all', selector: {} } };
      assert.deepEqual((await plan(all)).planned.map((p) => p.target).sort(), [
        'pod/etcd-0',
        'pod/etcd-1',
        'pod/web-0',
      ]);
      assert.deepEqual(
        (await plan(all, '-l', 'app=web')).planned.map((p) => p.target),
        ['pod/web-0'],
      );
      const none = await plan(all, '-l', 'app=none');
      assert.equal(none.status, 3, 'no pod matches: exit 3');
      assert.equal((await plan(all, '-l', 'app=web', '-c', 'etcd')).planned[0].container, 'etcd');
      const other = await plan(all, '-c', 'nope');
      assert.equal(other.status, 1);
      assert.match(other.stderr, /has no container "nope"/);
      const named = {
        ...(LATENCY as object),
        spec: {
          ...spec,
          mode: 'all',
          selector: { labelSelectors: { app: 'web' }, pods: { 'chaos-testing': ['etcd-1'] } },
        },
      };
      assert.deepEqual(
        (await plan(named)).planned.map((p) => p.target),
        ['pod/etcd-1'],
      );
    });

    it('YAML 1.1 as Kubernetes reads it (perm: 0444 is octal); spec.duration and volumePath checked in a dry run', async () => {
      const file = path.join(cluster.dir, 'attr.yaml');
      const yaml = (extra: string) =>
        fs.writeFileSync(
          file,
          `apiVersion: chaos-mesh.org/v1alpha1
kind: IOChaos
metadata: {name: ro, namespace: chaos-testing}
spec:
  action: attrOverride
  mode: one
  selector: {labelSelectors: {app: web}}
  volumePath: /var/lib/data/
  attr:
    perm: 0444
${extra}`,
        );
      yaml('');
      const r = await cluster.kubectl(['iochaos', 'apply', '-f', file, '--dry-run=client']);
      assert.equal(r.status, 0, r.stderr);
      const [planned] = JSON.parse(r.stdout) as {
        request: { volumePath: string; rules: { attr: { perm: number } }[] };
      }[];
      assert.equal(planned.request.rules[0].attr.perm, 0o444);
      assert.equal(
        planned.request.volumePath,
        '/var/lib/data',
        'the trailing slash is dropped before anything is sent',
      );
      yaml('  duration: 5x\n');
      const bad = await cluster.kubectl(['iochaos', 'apply', '-f', file, '--dry-run=client']);
      assert.equal(bad.status, 2);
      assert.equal(
        bad.stderr,
        'error: IOChaos ro: spec.duration: "5x" is not a duration: use e.g. "10ms", "1.5s", "2m"\n' +
          '  fix the field named; the fault spec follows Chaos Mesh IOChaos field names\n',
      );
      assert.equal(cluster.exec.calls.length, 0);
    });

    it('kubectl completes `kubectl iochaos ...` through kubectl_complete-iochaos', async () => {
      const r = await cluster.kubectl(['__complete', 'iochaos', 'sta']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^status\n:4\n/);
      const flags = await cluster.kubectl(['__complete', 'iochaos', 'delay', 'pod/web-0', '--dry-run', '']);
      assert.match(flags.stdout, /^none\nclient\nserver\n/);
    });

    it("containerNames: a container the pod lacks is that pod's error; refusals exit 1 before any exec", async () => {
      const doc = {
        ...(FAULT as { spec: object }),
        spec: { ...(FAULT as { spec: object }).spec, mode: 'all', containerNames: ['sidecar-x'] },
      };
      const r = await apply(doc);
      assert.equal(r.status, 1);
      assert.match(
        r.stderr,
        /^pod\/etcd-0: error: pod chaos-testing\/etcd-0 has no container "sidecar-x"\n  its containers are: etcd\n/m,
      );
      const bad = await apply({
        ...(FAULT as object),
        spec: { ...(FAULT as { spec: object }).spec, duration: 5 },
      });
      assert.equal(bad.status, 2, 'bad input: exit 2');
      assert.match(bad.stderr, /spec\.duration must be a string like "30s"/);
      assert.equal(cluster.exec.calls.length, 0);
    });
  });
});
