/**
 * End to end in a real container runtime: the images built from the Dockerfiles, the webhook
 * installed with `kubectl apply -k` and running from its image (in-cluster config against the API
 * stand-in), an opted-in Deployment whose pod the webhook mutates and podman runs, and the real
 * `kubectl iochaos` reaching the sidecar over pods/exec. See README "Pods in a container runtime".
 * Part of `npm test` (root, podman, runc and debootstrap: test/system-packages.sh installs them).
 * The first run on a machine builds the base and product images (~6 min here); later runs reuse
 * them by content hash (1 to 3.5 min). Run alone:
 *   npm run build:ts && npx mocha --bail dist/test/e2e/pods.test.js
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { appDeployment, checkRecords, type AppStats } from './app';
import type { Json } from './json';
import { GiveUp, startPodCluster, until, type PodCluster } from './pod-cluster';
import { BASE_SLIM } from '../support/podman/images';
import { CACHE_DIR, podman, podmanMissing } from '../support/podman/engine';

const NS = 'shop';
// `--validate=false` on apply: the stand-in serves no OpenAPI document to validate against; the
// manifests are schema-checked by test/webhook/manifests.test.ts instead.

describe('pods in podman: webhook, sidecar and kubectl iochaos end to end', function () {
  // The first run on a machine builds the base and product images (several minutes here).
  this.timeout(20 * 60_000);
  let c: PodCluster;

  const pod = async (selector: string): Promise<Json> =>
    until(`a running pod for ${selector}`, async () => {
      // A pod the kubelet failed to start never runs: say why now rather than after the timeout.
      if (c.errors.length) throw new GiveUp(`the kubelet failed: ${c.errors.map(String).join('; ')}`);
      const list = JSON.parse(await c.ok(['get', 'pods', '-n', NS, '-l', selector, '-o', 'json'])) as Json;
      const p = (list.items as Json[]).find(
        (i) =>
          i.status?.phase === 'Running' &&
          i.status?.conditions?.some((x: Json) => x.type === 'Ready' && x.status === 'True'),
      );
      return p;
    });
  /** Applies the app's Deployment (opted in or not) and waits for its pod to run. */
  const runApp = async (name: string, optedIn: boolean): Promise<Json> => {
    await c.ok(
      ['apply', '--validate=false', '-f', '-'],
      JSON.stringify(appDeployment(name, NS, BASE_SLIM, optedIn)),
    );
    return pod(`app=${name}`);
  };
  const containerNames = (p: Json): string[] => (p.spec.containers as Json[]).map((x) => x.name as string);
  const appStats = async (name: string): Promise<AppStats> =>
    JSON.parse(
      await c.ok(['exec', '-n', NS, name, '-c', 'app', '--', 'cat', '/tmp/app-stats.json']),
    ) as AppStats;

  before(async function () {
    const missing = podmanMissing();
    if (missing) throw new Error(missing);
    c = await startPodCluster();
    c.api.create('', 'namespaces', undefined, {
      metadata: { name: NS, labels: { 'iochaos.dev/injection': 'enabled' } },
    });
  });

  after(async () => {
    await c?.close();
  });

  it('installs with kubectl apply -k: the webhook runs from its image and publishes its caBundle', async () => {
    const overlay = (c as PodCluster & { overlay: string }).overlay;
    await c.ok(['apply', '--validate=false', '-k', overlay]);
    const mwc = await until('the caBundle in the MutatingWebhookConfiguration', () => {
      const m = c.api.get(
        'admissionregistration.k8s.io',
        'mutatingwebhookconfigurations',
        undefined,
        'iochaos-webhook',
      ) as Json;
      return m.webhooks[0].clientConfig.caBundle ? m : undefined;
    });
    assert.ok(mwc.webhooks[0].clientConfig.caBundle);
    await until('a ready webhook pod', async () => {
      const list = JSON.parse(await c.ok(['get', 'pods', '-n', 'iochaos-system', '-o', 'json'])) as Json;
      return (list.items as Json[]).find((p) =>
        p.status?.conditions?.some((x: Json) => x.type === 'Ready' && x.status === 'True'),
      );
    });
    assert.deepEqual(c.errors, []);
  });

  it('an opted-in Deployment gets the sidecar from the image kustomize set; kubectl exec reaches both containers', async () => {
    const p = await runApp('writer', true);
    assert.deepEqual(containerNames(p), ['app', 'chaosfs']);
    assert.equal(p.spec.containers[1].image, c.images.sidecar);
    assert.equal(p.spec.shareProcessNamespace, true);
    assert.deepEqual(
      c.admission.filter((a) => a.namespace === NS).map((a) => a.outcome),
      ['patched'],
    );
    for (const s of p.status.containerStatuses as Json[])
      assert.match(s.containerID, /^podman:\/\/[0-9a-f]{64}$/);
    const stats = await until('the app writing', async () => {
      const s = await appStats(p.metadata.name);
      return s.seq > 10 ? s : undefined;
    });
    assert.deepEqual(stats.errors, {});
    const health = await c.ok([
      'exec',
      '-n',
      NS,
      p.metadata.name,
      '-c',
      'chaosfs',
      '--',
      'chaosfs',
      'health',
    ]);
    assert.ok(health !== undefined);
  });

  it('delay, fault, status, recover through kubectl iochaos: the app sees each fault, then every record is there in order', async () => {
    const p = await pod('app=writer');
    const name = p.metadata.name as string;
    const before = await appMountinfo(name);
    const delay = await c.ok(iochaos('delay', '--delay', '60ms', '--methods', 'write'));
    assert.match(delay, new RegExp(`pod/${name} \\(app\\): injected delay 60ms`));
    await until('a write delayed by 60 ms', async () => {
      const s = await appStats(name);
      return s.maxMs >= 60 ? s : undefined;
    });
    const status = await c.ok(['iochaos', 'status', 'deployment/writer', '-n', NS]);
    assert.match(status, new RegExp(`pod/${name}\\s+app\\s+/data\\s+active\\s+latency\\(60ms\\)`), status);

    assert.match(
      await c.ok(iochaos('fault', '--errno', 'EIO', '--methods', 'write', '--percent', '100')),
      new RegExp(`pod/${name} \\(app\\): added errno EIO`),
    );
    const eio = await until('writes failing with EIO', async () => {
      const s = await appStats(name);
      return (s.errors.EIO ?? 0) > 5 ? s : undefined;
    });
    assert.deepEqual(Object.keys(eio.errors), ['EIO']);

    const recovered = await c.ok(['iochaos', 'recover', 'deployment/writer', '-n', NS]);
    assert.match(recovered, new RegExp(`pod/${name} \\(app\\): recovered /data`));
    await appRecovered(name, before);
  });

  it('apply -f of a Chaos Mesh IOChaos injects into the pods its selector picks; recover ends it', async () => {
    const p = await pod('app=writer');
    const name = p.metadata.name as string;
    const before = await appMountinfo(name);
    const manifest = {
      apiVersion: 'chaos-mesh.org/v1alpha1',
      kind: 'IOChaos',
      metadata: { name: 'slow-writes', namespace: NS },
      spec: {
        action: 'latency',
        mode: 'all',
        selector: { namespaces: [NS], labelSelectors: { app: 'writer' } },
        volumePath: '/data',
        delay: '70ms',
        methods: ['write'],
      },
    };
    await c.ok(['iochaos', 'apply', '-f', '-'], JSON.stringify(manifest));
    await until('a write delayed by 70 ms', async () => {
      const s = await appStats(name);
      return s.maxMs >= 70 ? s : undefined;
    });
    await c.ok(['iochaos', 'recover', 'deployment/writer', '-n', NS]);
    await appRecovered(name, before);
  });

  it('the sidecar killed mid-injection is restarted and finishes the recovery from its journal', async () => {
    const p = await pod('app=writer');
    const name = p.metadata.name as string;
    const before = await appMountinfo(name);
    await c.ok(iochaos('delay', '--delay', '80ms', '--methods', 'write'));
    await until('a write delayed by 80 ms', async () => {
      const s = await appStats(name);
      return s.maxMs >= 80 ? s : undefined;
    });
    const id = c.kubelet.containerId(NS, name, 'chaosfs')!;
    const restarts = Number((await podman(['inspect', '--format', '{{.RestartCount}}', id])).trim());
    // The daemon dies as a crash or the OOM killer would end it: SIGKILL from outside. (`podman kill`
    // would not do: podman counts it as a stop by the user and does not apply the restart policy.)
    const pid = Number((await podman(['inspect', '--format', '{{.State.Pid}}', id])).trim());
    process.kill(pid, 'SIGKILL');
    await until('the sidecar restarted', async () => {
      const n = Number((await podman(['inspect', '--format', '{{.RestartCount}}', id])).trim());
      return n > restarts ? n : undefined;
    });
    await until('no injection left in the pod', async () => {
      const r = await c.kubectl(['iochaos', 'status', `pod/${name}`, '-n', NS]);
      return r.status === 0 && r.stdout === '' ? r : undefined;
    });
    await appRecovered(name, before);
  });

  it('a pod not opted in gets no sidecar', async () => {
    const calls = c.admission.length;
    const p = await runApp('plain', false);
    assert.deepEqual(containerNames(p), ['app']);
    const s = await until('the plain app writing', async () => {
      const st = await appStats(p.metadata.name as string);
      return st.seq > 10 ? st : undefined;
    });
    assert.deepEqual(s.errors, {});
    assert.deepEqual(c.admission.slice(calls), [], 'the objectSelector kept it from the webhook');
  });

  it('the webhook down: an opted-in pod is still created, without the sidecar (failurePolicy Ignore)', async () => {
    await c.ok([
      'patch',
      'deployment/iochaos-webhook',
      '-n',
      'iochaos-system',
      '--type=merge',
      '-p',
      '{"spec":{"replicas":0}}',
    ]);
    await until('no webhook pod', async () => {
      const list = JSON.parse(await c.ok(['get', 'pods', '-n', 'iochaos-system', '-o', 'json'])) as Json;
      return (list.items as Json[]).length === 0 ? true : undefined;
    });
    const calls = c.admission.length;
    const p = await runApp('unguarded', true);
    assert.deepEqual(containerNames(p), ['app']);
    assert.deepEqual(
      c.admission
        .slice(calls)
        .filter((a) => a.namespace === NS)
        .map((a) => a.outcome),
      ['ignored'],
    );
  });

  const iochaos = (command: string, ...flags: string[]): string[] => [
    'iochaos',
    command,
    'deployment/writer',
    '-n',
    NS,
    '--path',
    '/data',
    ...flags,
  ];
  const appMountinfo = (name: string): Promise<string> =>
    c.ok(['exec', '-n', NS, name, '-c', 'app', '--', 'cat', '/proc/self/mountinfo']);

  /**
   * After a recovery: writes are fast again and none fail any more, every record is there in order
   * with its checksum, the app container's mounts are as before, and no ChaosFS mount is left, neither
   * on the host nor in the sidecar.
   */
  async function appRecovered(name: string, mountinfo: string): Promise<void> {
    // The app counts a record only when its write succeeded, so records written after this snapshot
    // (read after the recover command returned) were written with the fault gone.
    const start = await appStats(name);
    const s = await until('writes fast again', async () => {
      const st = await appStats(name);
      return st.maxMs < 40 && st.seq > start.seq + 20 ? st : undefined;
    });
    const after = await until('more records', async () => {
      const st = await appStats(name);
      return st.seq > s.seq + 50 ? st : undefined;
    });
    assert.deepEqual(after.errors, s.errors, 'no write failed after the recovery');
    const records = checkRecords(
      await c.ok(['exec', '-n', NS, name, '-c', 'app', '--', 'cat', '/data/records']),
    );
    assert.deepEqual(records.problems, []);
    assert.ok(records.count >= after.seq, `${records.count} records, the app wrote ${after.seq}`);
    assert.equal(await appMountinfo(name), mountinfo, "the app container's mounts are as before");
    // On the host: none where this cluster's pods live (other ChaosFS mounts may be other runs').
    const hostLeft = fs
      .readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .filter(
        (l) => / fuse\.chaosfs /.test(l) && [CACHE_DIR, c.dir].some((d) => l.split(' ')[1]!.startsWith(d)),
      );
    assert.deepEqual(hostLeft, []);
    const sidecarMounts = await c.ok([
      'exec',
      '-n',
      NS,
      name,
      '-c',
      'chaosfs',
      '--',
      'cat',
      '/proc/self/mountinfo',
    ]);
    assert.doesNotMatch(sidecarMounts, /chaosfs/);
  }
});
