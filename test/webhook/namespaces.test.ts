/**
 * Namespace labels for the Pod Security check, read through client-node from the API stand-in over
 * HTTPS: cached, one read per namespace however many pods arrive at once, failures and slow answers
 * never block the admission, and the whole path through the webhook server.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { POD_SECURITY_ENFORCE_LABEL } from '../../webhook/mutate';
import { DEFAULT_LOOKUP, apiLabelReader, cachedLookup } from '../../webhook/namespaces';
import { FakeApiServer } from '../support/apiserver';
import { barePod, review } from './fixtures';
import { startWebhook } from './helpers';
import { useScratch } from '../support/scratch';

describe('webhook: namespace labels through the API (stand-in), cached', function () {
  const scratch = useScratch('iochaos-ns-');
  this.timeout(60_000);
  let api: FakeApiServer;
  let core: CoreV1Api;
  const reads = (ns: string) =>
    api.requests.filter((r) => r.method === 'GET' && r.path === `/api/v1/namespaces/${ns}`).length;

  beforeEach(async () => {
    api = await FakeApiServer.start();
    const kc = new KubeConfig();
    kc.loadFromFile(api.writeKubeconfig(path.join(scratch(), 'config')));
    core = kc.makeApiClient(CoreV1Api);
    api.create('', 'namespaces', undefined, {
      metadata: { name: 'locked', labels: { [POD_SECURITY_ENFORCE_LABEL]: 'restricted' } },
    });
    api.create('', 'namespaces', undefined, { metadata: { name: 'open', labels: {} } });
  });
  afterEach(async () => api.close());

  it('reads the labels once per TTL, and sees a relabel after it', async () => {
    let t = 1_000_000;
    const lookup = cachedLookup(apiLabelReader(core), { ...DEFAULT_LOOKUP, now: () => t });
    assert.equal((await lookup('locked')).labels?.[POD_SECURITY_ENFORCE_LABEL], 'restricted');
    await lookup('locked');
    assert.equal(reads('locked'), 1);
    const ns = api.get('', 'namespaces', undefined, 'locked');
    api.store.update(api.resource('', 'namespaces'), undefined, 'locked', {
      ...ns,
      metadata: { ...ns.metadata, labels: { [POD_SECURITY_ENFORCE_LABEL]: 'privileged' } },
    });
    assert.equal((await lookup('locked')).labels?.[POD_SECURITY_ENFORCE_LABEL], 'restricted', 'cached');
    t += DEFAULT_LOOKUP.ttlMs;
    assert.equal((await lookup('locked')).labels?.[POD_SECURITY_ENFORCE_LABEL], 'privileged');
    assert.equal(reads('locked'), 2);
  });

  it('fifty pods at once cost one read', async () => {
    const lookup = cachedLookup(apiLabelReader(core));
    const all = await Promise.all(Array.from({ length: 50 }, () => lookup('open')));
    assert.ok(all.every((r) => r.labels !== undefined && r.unreadable === undefined));
    assert.equal(reads('open'), 1);
  });

  it('a failed read says why and is not cached; a slow one gives up at the timeout', async () => {
    const lookup = cachedLookup(apiLabelReader(core), { ...DEFAULT_LOOKUP, timeoutMs: 300 });
    const missing = await lookup('ghost');
    assert.match(missing.unreadable ?? '', /namespaces "ghost" not found/);
    await lookup('ghost');
    assert.equal(reads('ghost'), 2, 'failures are retried by the next pod');
    const remove = api.routes.add('GET', '/api/v1/namespaces/open', async (ctx) => {
      await new Promise((r) => setTimeout(r, 1500));
      ctx.send(200, api.get('', 'namespaces', undefined, 'open'));
    });
    try {
      const t0 = Date.now();
      const slow = await lookup('open');
      assert.match(slow.unreadable ?? '', /no answer within 300 ms/);
      assert.ok(Date.now() - t0 < 1400, 'did not wait for the slow answer');
    } finally {
      await new Promise((r) => setTimeout(r, 1500));
      remove();
    }
  });

  it('through the webhook: a pod in a restricted namespace is admitted bare with a warning; in an open one it is injected', async () => {
    const wh = await startWebhook({ namespaceLookup: cachedLookup(apiLabelReader(core)) });
    try {
      const locked = await wh.post(review(barePod(), { namespace: 'locked' }));
      assert.equal(locked.json.response.allowed, true);
      assert.equal(locked.json.response.patch, undefined);
      assert.match(locked.json.response.warnings[0], /namespace locked enforces Pod Security "restricted"/);
      const open = await wh.post(review(barePod(), { namespace: 'open' }));
      assert.ok(open.json.response.patch);
      assert.equal(open.json.response.warnings, undefined);
      // Pods that do not opt in cost no read at all.
      await wh.post(review(barePod({}, {}), { namespace: 'other' }));
      assert.equal(reads('other'), 0);
    } finally {
      await wh.close();
    }
  });
});
