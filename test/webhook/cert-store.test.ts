/**
 * The Secret and caBundle logic against the Kubernetes API stand-in, through client-node over
 * HTTPS: first start, restarts, renewals, CA rotation, replicas racing, and a caBundle that must
 * not flap.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import forge from 'node-forge';
import { syncCaBundle } from '../../webhook/ca-bundle';
import { type SecretClient, ensureCertificates, secretClient } from '../../webhook/cert-store';
import {
  type CertBundle,
  certInfo,
  createBundle,
  createCA,
  createServingCert,
  joinPem,
  splitPem,
} from '../../webhook/certs';
import { serviceDnsNames } from '../../webhook/config';
import { createLogger } from '../../webhook/log';
import { FakeApiServer, status } from '../support/apiserver';
import { parse } from 'yaml';
import { type Json, LogCapture, REPO_ROOT } from './helpers';
import { useScratch } from '../support/scratch';

const NS = 'iochaos-system';
const SECRET = 'iochaos-webhook-tls';
const MWC = 'iochaos-webhook';
const NAMES = serviceDnsNames({ serviceName: 'iochaos-webhook', namespace: NS });
const DAY = 24 * 3600 * 1000;

function verifies(caPem: string, certPem: string): boolean {
  const ca = forge.pki.certificateFromPem(caPem);
  return ca.verify(forge.pki.certificateFromPem(certPem));
}

function mwc(webhooks = 1): Json {
  return {
    metadata: { name: MWC },
    webhooks: Array.from({ length: webhooks }, (_, i) => ({
      name: `inject${i}.iochaos.dev`,
      clientConfig: { service: { name: 'iochaos-webhook', namespace: NS, path: '/mutate', port: 443 } },
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
    })),
  };
}

describe('webhook: certificates in a Secret, caBundle in the MutatingWebhookConfiguration (API stand-in)', function () {
  const scratch = useScratch('iochaos-kc-');
  this.timeout(60_000);
  let api: FakeApiServer;
  let kubeconfig: string;
  const logs = new LogCapture();
  const logger = createLogger('info', logs);

  /** A separate client per replica, as separate pods would have. */
  function replica(): { secrets: SecretClient; admission: AdmissionregistrationV1Api } {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    return {
      secrets: secretClient(kc.makeApiClient(CoreV1Api), NS, SECRET),
      admission: kc.makeApiClient(AdmissionregistrationV1Api),
    };
  }
  const ensure = (c: SecretClient, now = new Date()) =>
    ensureCertificates(c, { namespace: NS, secretName: SECRET, dnsNames: NAMES, logger, now: () => now });
  const writes = (pathPart: string) =>
    api.requests.filter((r) => ['POST', 'PUT', 'PATCH'].includes(r.method) && r.path.includes(pathPart));
  const storedSecret = () => api.get('', 'secrets', NS, SECRET) as Json;
  const storedBundle = () => Buffer.from(storedSecret().data['ca-bundle.crt'], 'base64').toString('utf8');

  /** Two replicas whose reads both complete before either writes: the race is forced, not hoped for. */
  async function racingReplicas() {
    let arrived = 0;
    let release!: () => void;
    const barrier = new Promise<void>((r) => (release = r));
    const gated = (c: SecretClient): SecretClient => ({
      ...c,
      read: async () => {
        const s = await c.read();
        if (++arrived === 2) release();
        await barrier;
        return s;
      },
    });
    return Promise.all([ensure(gated(replica().secrets)), ensure(gated(replica().secrets))]);
  }

  beforeEach(async () => {
    api = await FakeApiServer.start();
    api.create('', 'namespaces', undefined, { metadata: { name: NS } });
    kubeconfig = api.writeKubeconfig(path.join(scratch(), 'config'));
  });
  afterEach(async () => api.close());

  it('first start creates one kubernetes.io/tls Secret with a CA and a serving cert for the Service names', async () => {
    const { bundle, outcome } = await ensure(replica().secrets);
    assert.equal(outcome, 'created');
    const s = storedSecret();
    assert.equal(s.type, 'kubernetes.io/tls');
    assert.deepEqual(Object.keys(s.data).sort(), ['ca-bundle.crt', 'ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    assert.equal(Buffer.from(s.data['tls.crt'], 'base64').toString(), bundle.serving.cert);
    assert.ok(verifies(bundle.ca.cert, bundle.serving.cert));
    assert.deepEqual(certInfo(bundle.serving.cert).names, NAMES);
  });

  it('a restart loads the same certificates and writes nothing', async () => {
    const first = await ensure(replica().secrets);
    const before = writes('/secrets').length;
    const again = await ensure(replica().secrets);
    assert.equal(again.outcome, 'loaded');
    assert.deepEqual(again.bundle, first.bundle);
    assert.equal(writes('/secrets').length, before);
  });

  it("two replicas starting together agree on one Secret; the loser adopts the winner's CA", async () => {
    const [ra, rb] = await racingReplicas();
    assert.deepEqual([ra.outcome, rb.outcome].sort(), ['adopted', 'created']);
    assert.deepEqual(ra.bundle, rb.bundle);
    const creates = writes('/secrets').filter((r) => r.method === 'POST');
    assert.deepEqual(creates.map((r) => r.status).sort(), [201, 409]);
    assert.equal(api.store.list(api.resource('', 'secrets'), NS).items.length, 1);
  });

  it('the empty Secret the manifests ship is filled in by update alone (the Role has no create), once, by two racing replicas', async () => {
    const shipped = parse(fs.readFileSync(path.join(REPO_ROOT, 'manifests/secret.yaml'), 'utf8')) as Json;
    assert.equal(shipped.metadata.name, SECRET);
    api.create('', 'secrets', NS, shipped);
    const [ra, rb] = await racingReplicas();
    assert.deepEqual([ra.outcome, rb.outcome].sort(), ['adopted', 'created']);
    assert.deepEqual(ra.bundle, rb.bundle);
    assert.deepEqual(
      writes('/secrets')
        .map((r) => [r.method, r.status])
        .sort(),
      [
        ['PUT', 200],
        ['PUT', 409],
      ],
      'no POST: the webhook never needs to create the Secret',
    );
    const s = storedSecret();
    assert.equal(s.type, 'Opaque');
    assert.equal(Buffer.from(s.data['tls.crt'], 'base64').toString(), ra.bundle.serving.cert);
  });

  it('a deleted Secret that the webhook may not create fails naming the manifests to re-apply', async () => {
    // The Role as manifests/rbac.yaml ships it: no create on secrets, worded as the RBAC authorizer does.
    const message =
      'secrets is forbidden: User "system:serviceaccount:iochaos-system:iochaos-webhook" cannot create ' +
      'resource "secrets" in API group "" in the namespace "iochaos-system"';
    api.routes.add('POST', `/api/v1/namespaces/${NS}/secrets`, (ctx) =>
      ctx.send(403, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message,
        reason: 'Forbidden',
        details: { kind: 'secrets' },
        code: 403,
      }),
    );
    await assert.rejects(
      ensure(replica().secrets),
      /cannot create resource "secrets".*manifests\/secret\.yaml.*kubectl apply -k manifests\//,
    );
  });

  it('two replicas keep the caBundle steady: one value ever written, no writes on resync', async () => {
    api.create('admissionregistration.k8s.io', 'mutatingwebhookconfigurations', undefined, mwc(2));
    // Every caBundle value the store ever holds, across all writes by anyone.
    const everStored = new Set<string>();
    api.store.onChange((_type, t, obj) => {
      if (t.plural !== 'mutatingwebhookconfigurations') return;
      for (const w of (obj as Json).webhooks)
        if (w.clientConfig.caBundle) everStored.add(w.clientConfig.caBundle);
    });
    const replicas = [replica(), replica()];
    const results = await Promise.all(replicas.map((r) => ensure(r.secrets)));
    const outcomes = await Promise.all(
      replicas.map((r, i) => syncCaBundle(r.admission, MWC, results[i]!.bundle.caBundle, logger)),
    );
    // Both read an empty caBundle at once, so both may write it (an `add` has nothing to test):
    // the same value, from the one Secret.
    assert.ok(outcomes.includes('updated'), JSON.stringify(outcomes));
    const startupWrites = writes('/mutatingwebhookconfigurations').length;
    assert.ok(startupWrites >= 1 && startupWrites <= 2, `startup writes: ${startupWrites}`);
    const values = new Set<string>();
    for (let round = 0; round < 5; round++) {
      for (const r of replicas) {
        const { bundle } = await ensure(r.secrets);
        assert.equal(await syncCaBundle(r.admission, MWC, bundle.caBundle, logger), 'unchanged');
        const stored = api.get(
          'admissionregistration.k8s.io',
          'mutatingwebhookconfigurations',
          undefined,
          MWC,
        ) as Json;
        for (const w of stored.webhooks) values.add(w.clientConfig.caBundle);
      }
    }
    assert.equal(values.size, 1, 'caBundle changed between resyncs');
    assert.equal(Buffer.from([...values][0]!, 'base64').toString(), results[0]!.bundle.caBundle);
    assert.equal(
      writes('/mutatingwebhookconfigurations').length,
      startupWrites,
      'a resync wrote the caBundle again',
    );
    assert.deepEqual([...everStored], [...values], 'the caBundle held some other value at some point');
  });

  it('renews a serving certificate with under a third of its life left, keeping the CA and caBundle', async () => {
    const old = await ensure(replica().secrets);
    const later = new Date(Date.now() + 250 * DAY); // of 365 days: 115 left, under a third
    const [x, y] = await Promise.all([ensure(replica().secrets, later), ensure(replica().secrets, later)]);
    assert.deepEqual(x.bundle, y.bundle, 'replicas renewing together end up with the same certificate');
    assert.ok([x.outcome, y.outcome].includes('renewed'));
    assert.notEqual(x.bundle.serving.cert, old.bundle.serving.cert);
    assert.equal(x.bundle.ca.cert, old.bundle.ca.cert);
    assert.equal(x.bundle.caBundle, old.bundle.caBundle);
    assert.ok(verifies(x.bundle.ca.cert, x.bundle.serving.cert));
    assert.ok(certInfo(x.bundle.serving.cert).notAfter.getTime() > later.getTime() + 300 * DAY);
    const puts = writes('/secrets').filter((r) => r.method === 'PUT');
    assert.ok(
      puts.filter((r) => r.status === 200).length === 1,
      `one renewal written: ${JSON.stringify(puts)}`,
    );
    const fresh = await ensure(replica().secrets, later);
    assert.equal(fresh.outcome, 'loaded');
  });

  it('rotates a CA near its end and keeps the old CA in the bundle while it is still valid', async () => {
    const now = new Date();
    const oldCa = createCA('iochaos-webhook-ca', new Date(now.getTime() - 300 * DAY), 400 * DAY);
    const seeded: CertBundle = {
      ca: oldCa,
      caBundle: joinPem([oldCa.cert]),
      serving: createServingCert(oldCa, NAMES, now),
    };
    await ensureSeeded(seeded);
    const { bundle, outcome } = await ensure(replica().secrets, now);
    assert.equal(outcome, 'renewed');
    assert.notEqual(bundle.ca.cert, oldCa.cert);
    assert.deepEqual(splitPem(bundle.caBundle), [bundle.ca.cert.trim(), oldCa.cert.trim()]);
    assert.ok(verifies(bundle.ca.cert, bundle.serving.cert));
    assert.equal(storedBundle(), bundle.caBundle);
    // Once the old CA has expired it leaves the bundle.
    const afterExpiry = new Date(now.getTime() + 120 * DAY);
    const pruned = await ensure(replica().secrets, afterExpiry);
    assert.deepEqual(splitPem(pruned.bundle.caBundle), [bundle.ca.cert.trim()]);
  });

  it('replaces a Secret whose contents are unusable (garbage, or a cert from another CA)', async () => {
    api.create('', 'secrets', NS, {
      metadata: { name: SECRET },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': Buffer.from('junk').toString('base64'), 'tls.key': '', 'ca.crt': '', 'ca.key': '' },
    });
    const fixed = await ensure(replica().secrets);
    assert.equal(fixed.outcome, 'renewed');
    assert.ok(verifies(fixed.bundle.ca.cert, fixed.bundle.serving.cert));
    const other = createBundle(['elsewhere.example']);
    await ensureSeeded({ ...fixed.bundle, serving: other.serving });
    const again = await ensure(replica().secrets);
    assert.equal(again.outcome, 'renewed');
    assert.equal(
      again.bundle.ca.cert,
      fixed.bundle.ca.cert,
      'the CA is kept; only the serving cert is remade',
    );
    assert.ok(verifies(again.bundle.ca.cert, again.bundle.serving.cert));
  });

  it('a missing MutatingWebhookConfiguration is reported as such, not as an error', async () => {
    const { bundle } = await ensure(replica().secrets);
    assert.equal(await syncCaBundle(replica().admission, MWC, bundle.caBundle, logger), 'missing');
  });

  it('a configuration changed between read and patch is re-read, never patched blindly (422 on the test op)', async () => {
    api.create('admissionregistration.k8s.io', 'mutatingwebhookconfigurations', undefined, mwc(2));
    const t = api.resource('admissionregistration.k8s.io', 'mutatingwebhookconfigurations');
    let interfered = false;
    api.routes.add(
      'PATCH',
      `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/:name`,
      async (ctx) => {
        if (!interfered) {
          interfered = true;
          // Someone re-applies the manifests and the webhooks come back in the other order.
          const cur = api.store.get(t, undefined, ctx.params.name!) as Json;
          cur.webhooks.reverse();
          cur.webhooks[0].clientConfig.caBundle = Buffer.from('someone else').toString('base64');
          api.store.update(t, undefined, ctx.params.name!, cur);
        }
        const ops = JSON.parse((await ctx.body()).toString());
        try {
          ctx.send(200, api.store.patch(t, undefined, ctx.params.name!, 'json', ops));
        } catch (err) {
          if (!(err instanceof status.ApiError)) throw err;
          ctx.send(err.status.code, err.status);
        }
      },
    );
    const { bundle } = await ensure(replica().secrets);
    // Seed a stale caBundle so the first patch carries a `test` op on it.
    const cur = api.store.get(t, undefined, MWC) as Json;
    for (const w of cur.webhooks) w.clientConfig.caBundle = Buffer.from('stale').toString('base64');
    api.store.update(t, undefined, MWC, cur);
    assert.equal(await syncCaBundle(replica().admission, MWC, bundle.caBundle, logger), 'updated');
    const patches = writes('/mutatingwebhookconfigurations');
    assert.deepEqual(
      patches.map((r) => r.status),
      [422, 200],
    );
    const final = api.store.get(t, undefined, MWC) as Json;
    for (const w of final.webhooks)
      assert.equal(Buffer.from(w.clientConfig.caBundle, 'base64').toString(), bundle.caBundle);
  });

  async function ensureSeeded(b: CertBundle): Promise<void> {
    const data = {
      'tls.crt': b.serving.cert,
      'tls.key': b.serving.key,
      'ca.crt': b.ca.cert,
      'ca.key': b.ca.key,
      'ca-bundle.crt': b.caBundle,
    };
    const enc = Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    );
    const t = api.resource('', 'secrets');
    if (api.store.has(t, NS, SECRET)) {
      const s = api.store.get(t, NS, SECRET);
      api.store.update(t, NS, SECRET, { ...s, data: enc });
    } else {
      api.create('', 'secrets', NS, { metadata: { name: SECRET }, type: 'kubernetes.io/tls', data: enc });
    }
  }
});
