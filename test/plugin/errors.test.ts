/**
 * Every way a pod target fails before anything is injected, through the real kubectl: each message
 * says what happened (naming the file, pod, namespace, verb and resource) and what to do next, and
 * the exit code is 1 (3 when the pod does not exist).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { containerId, podObject, sidecarContainer, startCluster, type Cluster } from './support';

const NS = 'shop';
const DELAY = ['--path', '/data', '--delay', '10ms'];

describe('kubectl iochaos on pods: errors a person can act on', function () {
  this.timeout(60_000);
  let cluster: Cluster;
  const delay = (target: string, ...more: string[]) =>
    cluster.kubectl(['iochaos', 'delay', target, '-n', NS, ...DELAY, ...more]);

  before(async () => {
    cluster = await startCluster(NS);
    const pod = (spec: Partial<Parameters<typeof podObject>[0]> & { name: string }) =>
      cluster.api.create(
        '',
        'pods',
        NS,
        podObject({ namespace: NS, apps: [{ name: 'app', id: containerId() }], ...spec }),
      );
    pod({ name: 'plain', injected: false, annotated: false });
    pod({ name: 'annotated', injected: false, annotated: true });
    pod({ name: 'starting', sidecarReady: false });
    pod({ name: 'pending', phase: 'Pending' });
    pod({
      name: 'two',
      apps: [
        { name: 'app', id: containerId() },
        { name: 'metrics', id: containerId() },
      ],
    });
    pod({ name: 'ok' });
  });
  after(async () => cluster?.close());

  const fails = (r: { status: number | null; stdout: string; stderr: string }, status = 1) => {
    assert.equal(r.status, status, `exit ${status}, got ${r.status}: ${r.stderr}`);
    return r.stderr;
  };

  it('kubeconfig missing: names the path and says how to give one', async () => {
    const missing = path.join(cluster.dir, 'no-such-config');
    assert.equal(
      fails(await delay('pod/ok', '--kubeconfig', missing)),
      `error: the kubeconfig ${missing} (--kubeconfig) does not exist\n` +
        '  give the right path with --kubeconfig, or set KUBECONFIG to your cluster config\n',
    );
    assert.match(
      fails(
        await cluster.kubectl(['iochaos', 'delay', 'pod/ok', '-n', NS, ...DELAY], { KUBECONFIG: missing }),
      ),
      new RegExp(
        `^error: no kubeconfig found: KUBECONFIG names ${missing}, and none of them exists\\n  fix KUBECONFIG`,
      ),
    );
  });

  it('kubeconfig unreadable or not a kubeconfig: names the path', async () => {
    const dir = path.join(cluster.dir, 'a-directory');
    fs.mkdirSync(dir);
    assert.match(
      fails(await delay('pod/ok', '--kubeconfig', dir)),
      new RegExp(
        `^error: cannot read the kubeconfig ${dir} \\(--kubeconfig\\): EISDIR.*\\n  make it readable`,
      ),
    );
    const bad = path.join(cluster.dir, 'garbage');
    fs.writeFileSync(bad, 'clusters: [unclosed\n');
    assert.match(
      fails(await delay('pod/ok', '--kubeconfig', bad)),
      new RegExp(
        `^error: the kubeconfig ${bad} \\(--kubeconfig\\) is not a valid kubeconfig: .*\\n  check it with: kubectl config view --kubeconfig ${bad}\\n$`,
      ),
    );
  });

  it('API unreachable: names the server and context', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const file = path.join(cluster.dir, 'down');
    fs.writeFileSync(
      file,
      fs.readFileSync(cluster.kubeconfig, 'utf8').replace(cluster.api.url, `https://127.0.0.1:${port}`),
    );
    assert.equal(
      fails(await delay('pod/ok', '--kubeconfig', file)),
      `error: cannot reach the Kubernetes API at https://127.0.0.1:${port} (context "standin"): ECONNREFUSED\n` +
        '  check that the cluster is up and that this is the context you mean (kubectl --context standin cluster-info)\n',
    );
  });

  it('pod not found: names the pod and namespace', async () => {
    assert.equal(
      fails(await delay('pod/nope'), 3),
      `error: pod "nope" not found in namespace ${NS}\n  list the pods there with: kubectl get pods -n ${NS} (or give another namespace with -n)\n`,
    );
    // Without -n, the context's namespace ("default" in the stand-in's kubeconfig).
    assert.match(
      fails(await cluster.kubectl(['iochaos', 'recover', 'pod/ok']), 3),
      /^recovering: .*\nerror: pod "ok" not found in namespace default\n/,
    );
  });

  it('pod not injected: says to label the namespace and the pod template and recreate the pod', async () => {
    const err = fails(await delay('pod/plain'));
    assert.match(err, /^pod\/plain: error: pod shop\/plain is not injected: it has no chaosfs sidecar\n/);
    assert.match(err, /kubectl label namespace shop iochaos\.dev\/injection=enabled/);
    assert.match(err, /"labels":\{"iochaos\.dev\/inject":"true"\}/);
    assert.match(err, /then recreate the pod so the webhook adds the sidecar\n$/);
    const annotated = fails(await delay('pod/annotated'));
    assert.match(
      annotated,
      /^pod\/annotated: error: pod shop\/annotated has iochaos\.dev\/inject: "true" but no chaosfs sidecar: the iochaos webhook did not inject it when the pod was created\n/,
    );
    assert.match(
      annotated,
      /then recreate the pod \(kubectl delete pod annotated -n shop; its controller makes a new one\)/,
    );
  });

  it('sidecar not ready, pod not running', async () => {
    assert.equal(
      fails(await delay('pod/starting')),
      'pod/starting: error: the chaosfs sidecar of pod shop/starting is not ready (running, but its readiness probe (chaosfs health) does not pass yet)\n' +
        '  wait a few seconds and retry; if it stays so, read its log: kubectl logs starting -n shop -c chaosfs\n',
    );
    assert.match(
      fails(await delay('pod/pending')),
      /^pod\/pending: error: pod shop\/pending is Pending, not Running\n  wait until it runs/,
    );
  });

  it('container ambiguous: lists them; -c picks one; an unknown -c lists them too', async () => {
    assert.equal(
      fails(await delay('pod/two')),
      'pod/two: error: pod shop/two has 2 app containers (app, metrics): which one?\n  name it with -c, e.g. -c app\n',
    );
    assert.equal(
      fails(await delay('pod/two', '-c', 'db')),
      'pod/two: error: pod shop/two has no container "db"\n  its containers are: app, metrics\n',
    );
    const dry = await delay('pod/two', '-c', 'metrics', '--dry-run=client');
    assert.equal(dry.status, 0, dry.stderr);
    assert.equal(JSON.parse(dry.stdout)[0].container, 'metrics');
  });

  it('RBAC: names the missing verb and resource (get pods; create pods/exec)', async () => {
    const remove = cluster.api.routes.add('GET', '/api/v1/namespaces/:namespace/pods/:name', (ctx) =>
      ctx.send(403, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        reason: 'Forbidden',
        code: 403,
        message: `pods "${ctx.params.name}" is forbidden: User "alice" cannot get resource "pods" in API group "" in the namespace "${ctx.params.namespace}"`,
      }),
    );
    try {
      assert.equal(
        fails(await delay('pod/ok')),
        'error: pods "ok" is forbidden: User "alice" cannot get resource "pods" in API group "" in the namespace "shop"\n' +
          '  RBAC is missing "get pods" in namespace shop for your user in context "standin": ask an admin to bind the iochaos-user ClusterRole there (kubectl auth can-i get pods -n shop tells you what you have)\n',
      );
    } finally {
      remove();
    }
    cluster.exec.forbid('alice');
    try {
      assert.equal(
        fails(await delay('pod/ok')),
        'pod/ok: error: pods "ok" is forbidden: User "alice" cannot create resource "pods/exec" in API group "" in the namespace "shop"\n' +
          '  RBAC is missing "create pods/exec" in namespace shop for your user in context "standin": ask an admin to bind the iochaos-user ClusterRole there (kubectl auth can-i create pods/exec -n shop tells you what you have)\n',
      );
    } finally {
      cluster.exec.forbid(undefined);
    }
  });

  it('a sidecar without the chaosfs command: the exec error, and where to look', async () => {
    cluster.containers.set(`${NS}/ok/chaosfs`, { env: { PATH: '/nonexistent' } });
    const err = fails(await delay('pod/ok'));
    assert.match(
      err,
      /^pod\/ok: error: exec of "chaosfs ctl" in the chaosfs sidecar of pod shop\/ok failed: .*executable file not found in \$PATH/,
    );
    assert.match(
      err,
      /\n  check the sidecar image has the chaosfs command: kubectl logs ok -n shop -c chaosfs\n$/,
    );
  });

  it('a sidecar whose daemon does not answer', async () => {
    cluster.containers.set(
      `${NS}/ok/chaosfs`,
      sidecarContainer(cluster.dir, path.join(cluster.dir, 'nobody.sock')),
    );
    const err = fails(await delay('pod/ok'));
    assert.match(
      err,
      /^pod\/ok: error: the chaosfs daemon in pod shop\/ok does not answer: no ChaosFS daemon or worker is listening on .*nobody\.sock\n  it may be restarting/,
    );
  });
});
