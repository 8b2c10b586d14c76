/**
 * The API stand-in itself, held to the wire behaviour the webhook tests (and later the plugin
 * tests) rely on: the real kubectl and client-node talk to it unchanged.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { FakeApiServer } from '../support/apiserver';
import { statusCode } from '../../webhook/k8s-errors';
import { useScratch } from '../support/scratch';

const run = promisify(execFile);

describe('test support: the Kubernetes API stand-in', function () {
  const scratch = useScratch('standin-');
  this.timeout(60_000);
  let api: FakeApiServer;
  let kubeconfig: string;
  let core: CoreV1Api;
  const cacheDir = scratch();
  const kubectl = (...args: string[]) =>
    run('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, ...args]);

  before(async () => {
    api = await FakeApiServer.start();
    kubeconfig = api.writeKubeconfig(path.join(scratch(), 'config'));
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
  });
  after(async () => api.close());

  it('serves HTTPS with its own CA, and refuses a wrong token with a 401 Status', async () => {
    const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const c = tls.connect(
        { host: '127.0.0.1', port: Number(new URL(api.url).port), ca: api.ca, servername: 'localhost' },
        () => resolve(c),
      );
      c.on('error', reject);
    });
    assert.equal(s.authorized, true);
    s.destroy();
    const bad = new KubeConfig();
    bad.loadFromString(api.kubeconfig().replace(api.token, 'wrong'));
    const err = await bad
      .makeApiClient(CoreV1Api)
      .listNamespace()
      .catch((e: unknown) => e);
    assert.equal(statusCode(err), 401);
  });

  it('kubectl: discovery, get, create -f, patch, delete, and NotFound as the real server words it', async () => {
    const { stdout: ns } = await kubectl('get', 'namespaces', '-o', 'name');
    assert.deepEqual(ns.trim().split('\n'), ['namespace/default', 'namespace/kube-system']);
    const file = path.join(scratch(), 'secret.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's1' },
        data: { a: 'Yg==' },
        stringData: { c: 'd' },
      }),
    );
    assert.match((await kubectl('create', '--validate=false', '-f', file)).stdout, /secret\/s1 created/);
    assert.match(
      (await kubectl('patch', 'secret', 's1', '--type=merge', '-p', '{"metadata":{"labels":{"x":"y"}}}'))
        .stdout,
      /patched/,
    );
    const { stdout } = await kubectl('get', 'secret', 's1', '-o', 'json');
    assert.equal(JSON.parse(stdout).metadata.labels.x, 'y');
    assert.deepEqual(
      JSON.parse(stdout).data,
      { a: 'Yg==', c: 'ZA==' },
      'stringData is merged into data, as the real registry does',
    );
    const { stdout: res } = await kubectl('api-resources', '--no-headers', '-o', 'name');
    assert.ok(res.split('\n').includes('mutatingwebhookconfigurations.admissionregistration.k8s.io'), res);
    assert.match((await kubectl('delete', 'secret', 's1')).stdout, /deleted/);
    const err = (await kubectl('get', 'secret', 's1').catch((e: unknown) => e)) as { stderr: string };
    assert.match(err.stderr, /Error from server \(NotFound\): secrets "s1" not found/);
  });

  it('client-node: create with generateName, AlreadyExists, stale update 409, json-patch and merge-patch', async () => {
    const made = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { generateName: 'cm-' }, data: { k: 'v' } },
    });
    assert.match(made.metadata!.name!, /^cm-[a-z0-9]{5}$/);
    const name = made.metadata!.name!;
    const dup = await core
      .createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name }, data: {} } })
      .catch((e: unknown) => e);
    assert.equal(statusCode(dup), 409);
    const updated = await core.replaceNamespacedConfigMap({
      name,
      namespace: 'default',
      body: { ...made, data: { k: 'v2' } },
    });
    assert.notEqual(updated.metadata!.resourceVersion, made.metadata!.resourceVersion);
    const stale = await core
      .replaceNamespacedConfigMap({ name, namespace: 'default', body: { ...made, data: { k: 'v3' } } })
      .catch((e: unknown) => e);
    assert.equal(statusCode(stale), 409);
    assert.match(JSON.stringify((stale as { body: unknown }).body), /the object has been modified/);
    await core.patchNamespacedConfigMap(
      { name, namespace: 'default', body: [{ op: 'replace', path: '/data/k', value: 'v4' }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    const merged = await core.patchNamespacedConfigMap(
      { name, namespace: 'default', body: { data: { other: 'x' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    assert.deepEqual(merged.data, { k: 'v4', other: 'x' });
    const failedTest = await core
      .patchNamespacedConfigMap(
        { name, namespace: 'default', body: [{ op: 'test', path: '/data/k', value: 'nope' }] },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      )
      .catch((e: unknown) => e);
    assert.equal(statusCode(failedTest), 422);
    const missingNs = await core
      .createNamespacedConfigMap({ namespace: 'ghost', body: { metadata: { name: 'x' } } })
      .catch((e: unknown) => e);
    assert.equal(statusCode(missingNs), 404);
  });

  it('routes registered by other modules win over the generic ones, and their resources show in discovery', async () => {
    api.addResource({
      group: '',
      version: 'v1',
      kind: 'Pod',
      plural: 'pods',
      namespaced: true,
      subresources: [{ name: 'exec', verbs: ['create', 'get'] }],
    });
    const remove = api.routes.add('GET', '/api/v1/namespaces/:namespace/pods/:name/log', (ctx) => {
      ctx.res
        .writeHead(200, { 'Content-Type': 'text/plain' })
        .end(`log of ${ctx.params.namespace}/${ctx.params.name}\n`);
    });
    try {
      const { stdout } = await kubectl('api-resources', '--no-headers', '-o', 'name');
      assert.ok(stdout.split('\n').includes('pods'), stdout);
      api.create('', 'pods', 'default', {
        metadata: { name: 'web-0' },
        spec: { containers: [{ name: 'app', image: 'x' }] },
      });
      const { stdout: logs } = await kubectl('logs', 'web-0');
      assert.equal(logs, 'log of default/web-0\n');
    } finally {
      remove();
    }
  });
});
