/**
 * Realistic AdmissionReviews through the running HTTPS server: the returned JSONPatch is applied
 * with fast-json-patch, the result validated against the Pod schema (kubernetes-models) and the
 * API server's own cross-field rules, and the patch compared with a golden file
 * (UPDATE_GOLDEN=1 rewrites them).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyPatch, type Operation } from 'fast-json-patch';
import { Pod } from 'kubernetes-models/v1/Pod';
import {
  DEFAULT_STATE_DIR,
  HEALTH_COMMAND,
  INJECT_ANNOTATION,
  INJECT_LABEL,
  POD_NAME_ENV,
  POD_NAMESPACE_ENV,
  SIDECAR_NAME,
  SIDECAR_PROFILE_ANNOTATION,
} from '../../sidecar/api/names';
import { POD_SECURITY_ENFORCE_LABEL, mutatePod } from '../../webhook/mutate';
import { SIDECAR_CAPABILITIES } from '../../webhook/sidecar-security';
import { CASES, alreadyInjectedPod, barePod, deploymentPod, review } from './fixtures';
import { type Json, REPO_ROOT, TEST_INJECTION, type TestWebhook, startWebhook } from './helpers';

const GOLDEN_DIR = path.join(REPO_ROOT, 'test/golden/webhook');

function decodePatch(response: Json): Operation[] {
  assert.equal(response.patchType, 'JSONPatch');
  return JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'));
}

/** What the API server checks beyond the OpenAPI schema, for the fields the patch touches. */
function assertApiServerRules(pod: Json): void {
  new Pod(pod as never).validate();
  const spec = pod.spec;
  const names = [...(spec.initContainers ?? []), ...spec.containers].map((c: Json) => c.name);
  assert.equal(new Set(names).size, names.length, `duplicate container names: ${names}`);
  const volumes = (spec.volumes ?? []).map((v: Json) => v.name);
  assert.equal(new Set(volumes).size, volumes.length, `duplicate volume names: ${volumes}`);
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const m of c.volumeMounts ?? [])
      assert.ok(volumes.includes(m.name), `${c.name} mounts unknown volume ${m.name}`);
  }
  assert.ok(
    !(spec.hostPID && spec.shareProcessNamespace),
    'hostPID and shareProcessNamespace cannot both be set',
  );
}

/**
 * UPDATE_GOLDEN=1 rewrites the golden files, for a person to review the diff. Under CI nobody reviews
 * it, and a rewritten file would pass whatever the patch became: refuse loudly instead.
 */
function updatingGolden(): boolean {
  if (!process.env.UPDATE_GOLDEN) return false;
  if (process.env.CI && process.env.CI !== 'false') {
    throw new Error(
      `UPDATE_GOLDEN=${process.env.UPDATE_GOLDEN} with CI=${process.env.CI}: golden files are never regenerated under CI; unset UPDATE_GOLDEN, or update them locally and commit the reviewed diff`,
    );
  }
  return process.env.UPDATE_GOLDEN === '1';
}

function checkGolden(name: string, patch: Operation[]): void {
  const file = path.join(GOLDEN_DIR, `${name}.patch.json`);
  const text = JSON.stringify(patch, null, 2) + '\n';
  if (updatingGolden()) fs.writeFileSync(file, text);
  assert.ok(
    fs.existsSync(file),
    `no golden file ${file}: run the tests once with UPDATE_GOLDEN=1 and review it`,
  );
  assert.equal(text, fs.readFileSync(file, 'utf8'), `patch for ${name} differs from ${file}`);
}

function sidecarOf(pod: Json): Json {
  const c = pod.spec.containers.find((x: Json) => x.name === SIDECAR_NAME);
  assert.ok(c, 'no chaosfs container');
  return c;
}

describe('webhook: mutation of realistic AdmissionReviews', () => {
  let wh: TestWebhook;
  before(async () => (wh = await startWebhook()));
  after(async () => wh.close());

  for (const [name, make] of Object.entries(CASES)) {
    it(`${name}: patch applies, the pod validates, and the patch matches its golden file`, async () => {
      const rev = make() as Json;
      const { status, json } = await wh.post(rev);
      assert.equal(status, 200);
      assert.equal(json.apiVersion, 'admission.k8s.io/v1');
      assert.equal(json.kind, 'AdmissionReview');
      assert.equal(json.response.uid, rev.request.uid);
      assert.equal(json.response.allowed, true);
      const patch = decodePatch(json.response);
      const original = structuredClone(rev.request.object);
      const patched = applyPatch(structuredClone(original), patch, true, false).newDocument as Json;
      assertApiServerRules(patched);
      checkGolden(name, patch);

      assert.equal(patched.spec.shareProcessNamespace, true);
      const sc = sidecarOf(patched);
      assert.equal(sc.image, TEST_INJECTION.sidecarImage);
      assert.deepEqual(sc.command, ['chaosfs', 'daemon']);
      assert.equal(sc.securityContext.privileged, true);
      assert.ok(sc.resources.limits.memory && sc.resources.requests.cpu);
      assert.deepEqual(sc.readinessProbe.exec.command, HEALTH_COMMAND);
      assert.deepEqual(
        sc.env.map((e: Json) => [e.name, e.valueFrom.fieldRef.fieldPath]),
        [
          [POD_NAME_ENV, 'metadata.name'],
          [POD_NAMESPACE_ENV, 'metadata.namespace'],
        ],
      );
      const mount = sc.volumeMounts.find((m: Json) => m.mountPath === DEFAULT_STATE_DIR);
      assert.ok(patched.spec.volumes.some((v: Json) => v.name === mount.name && v.emptyDir));
      // Nothing the pod had is touched: the app containers, init containers, metadata, status.
      const app = (p: Json) => p.spec.containers.filter((c: Json) => c.name !== SIDECAR_NAME);
      assert.deepEqual(app(patched), original.spec.containers);
      assert.deepEqual(patched.spec.initContainers, original.spec.initContainers);
      assert.deepEqual(patched.metadata, original.metadata);
      assert.deepEqual(patched.status, original.status);
      // Add and replace only: a patch that removes or moves something is out of scope for us.
      assert.ok(
        patch.every((op) => op.op === 'add' || op.op === 'replace'),
        JSON.stringify(patch.map((o) => o.op)),
      );
    });
  }

  it('a Deployment pod with generateName and no name is injected; the downward API will name it', async () => {
    const rev = CASES['deployment-pod']() as Json;
    assert.equal(rev.request.object.metadata.name, undefined);
    assert.equal(rev.request.name, undefined);
    const { json } = await wh.post(rev);
    const patched = applyPatch(structuredClone(rev.request.object), decodePatch(json.response))
      .newDocument as Json;
    assert.equal(patched.spec.containers.length, 3);
    assert.deepEqual(
      patched.spec.initContainers.map((c: Json) => c.name),
      ['migrate'],
      'no sidecar among init containers',
    );
  });

  it('explicit shareProcessNamespace: false is overridden, and the response carries a warning', async () => {
    const { json } = await wh.post(CASES['share-process-namespace-false']());
    assert.equal(json.response.allowed, true);
    assert.equal(json.response.warnings.length, 1);
    assert.match(json.response.warnings[0], /shareProcessNamespace was false/);
    assert.ok(
      decodePatch(json.response).some(
        (op) => op.path === '/spec/shareProcessNamespace' && op.op === 'replace',
      ),
    );
  });

  it('an already injected pod gets no patch (no second sidecar)', async () => {
    const { json } = await wh.post(review(alreadyInjectedPod(), { namespace: 'default', name: 'debug' }));
    assert.equal(json.response.allowed, true);
    assert.equal(json.response.patch, undefined);
    assert.equal(json.response.patchType, undefined);
  });

  it('is idempotent: re-reviewing its own output yields no patch', async () => {
    for (const make of Object.values(CASES)) {
      const rev = make() as Json;
      const first = await wh.post(rev);
      rev.request.object = applyPatch(rev.request.object, decodePatch(first.json.response)).newDocument;
      const second = await wh.post(rev);
      assert.equal(second.json.response.patch, undefined);
    }
  });

  const unpatched: [string, () => Json, RegExp | undefined][] = [
    ['a pod without the annotation', () => review(barePod({}, {}), { namespace: 'default' }), undefined],
    [
      'a pod annotated "false"',
      () => review(barePod({}, { [INJECT_ANNOTATION]: 'false' }), { namespace: 'default' }),
      undefined,
    ],
    [
      'a pod annotated "yes"',
      () => review(barePod({}, { [INJECT_ANNOTATION]: 'yes' }), { namespace: 'default' }),
      undefined,
    ],
    [
      'a pod annotated "True"',
      () => review(barePod({}, { [INJECT_ANNOTATION]: 'True' }), { namespace: 'default' }),
      /only "true"/,
    ],
    ['a pod in kube-system', () => review(deploymentPod(), { namespace: 'kube-system' }), /not allowed/],
    [
      "a pod in the webhook's own namespace",
      () => review(deploymentPod(), { namespace: 'iochaos-system' }),
      /not allowed/,
    ],
    [
      'a Windows pod',
      () => review(barePod({ os: { name: 'windows' } }), { namespace: 'default' }),
      /Windows/,
    ],
  ];
  for (const [what, make, warning] of unpatched) {
    it(`${what} is allowed with no patch`, async () => {
      const rev = make();
      const { status, json } = await wh.post(rev);
      assert.equal(status, 200);
      assert.equal(json.response.uid, rev.request.uid);
      assert.equal(json.response.allowed, true);
      assert.equal(json.response.patch, undefined);
      if (warning) assert.match(json.response.warnings?.[0] ?? '', warning);
      else assert.equal(json.response.warnings, undefined);
    });
  }

  it('only the namespaces in an allow-list are injected', async () => {
    const only = await startWebhook({ injection: { ...TEST_INJECTION, includeNamespaces: ['staging'] } });
    try {
      const out = await only.post(review(barePod(), { namespace: 'default' }));
      assert.equal(out.json.response.patch, undefined);
      const inn = await only.post(review(barePod(), { namespace: 'staging' }));
      assert.ok(inn.json.response.patch);
    } finally {
      await only.close();
    }
  });

  it('a hostPID pod gets the sidecar without shareProcessNamespace (the API server forbids both)', async () => {
    const rev = review(barePod({ hostPID: true }), { namespace: 'default' }) as Json;
    const { json } = await wh.post(rev);
    const patched = applyPatch(rev.request.object, decodePatch(json.response)).newDocument as Json;
    assertApiServerRules(patched);
    assert.equal(patched.spec.shareProcessNamespace, undefined);
    sidecarOf(patched);
    assert.match(json.response.warnings[0], /hostPID/);
  });

  const skipped: [string, () => Json, RegExp][] = [
    [
      'an init container named chaosfs',
      () =>
        review(barePod({ initContainers: [{ name: SIDECAR_NAME, image: 'busybox:1.36', args: ['true'] }] }), {
          namespace: 'default',
        }),
      /already has an init container named chaosfs/,
    ],
    [
      'an app container named chaosfs that is not the sidecar',
      () => {
        const pod = barePod();
        (pod.spec as Json).containers[0].name = SIDECAR_NAME;
        return review(pod, { namespace: 'default' });
      },
      /already has a container named chaosfs.*Rename/,
    ],
    [
      'a pod with nodeSelector kubernetes.io/os: windows',
      () => review(barePod({ nodeSelector: { 'kubernetes.io/os': 'windows' } }), { namespace: 'default' }),
      /only run on Windows nodes/,
    ],
    [
      'a pod whose required node affinity allows only Windows',
      () =>
        review(
          barePod({
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['windows'] }] },
                    { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'NotIn', values: ['linux'] }] },
                  ],
                },
              },
            },
          }),
          { namespace: 'default' },
        ),
      /only run on Windows nodes/,
    ],
    [
      'a pod asking for an unknown sidecar profile',
      () =>
        review(barePod({}, { [INJECT_ANNOTATION]: 'true', [SIDECAR_PROFILE_ANNOTATION]: 'root' }), {
          namespace: 'default',
        }),
      /sidecar-profile is "root"/,
    ],
    [
      'a pod labelled "True" (a near miss)',
      () => {
        const pod = barePod({}, {});
        (pod.metadata as Json).labels[INJECT_LABEL] = 'True';
        return review(pod, { namespace: 'default' });
      },
      /only "true"/,
    ],
  ];
  for (const [what, make, warning] of skipped) {
    it(`${what}: no sidecar, allowed, and a warning saying why`, async () => {
      const rev = make();
      const { status, json } = await wh.post(rev);
      assert.equal(status, 200);
      assert.equal(json.response.allowed, true);
      assert.equal(json.response.patch, undefined);
      assert.equal(json.response.warnings?.length, 1, JSON.stringify(json.response));
      assert.match(json.response.warnings[0], warning);
    });
  }

  it('a pod that prefers Windows, or may run on Linux too, still gets the sidecar', () => {
    const either = barePod({
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['windows'] }] },
              { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] },
            ],
          },
          preferredDuringSchedulingIgnoredDuringExecution: [
            {
              weight: 1,
              preference: {
                matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['windows'] }],
              },
            },
          ],
        },
      },
    });
    assert.equal(mutatePod(either as never, 'default', TEST_INJECTION).injected, true);
  });

  it('the label alone opts in (what the objectSelector sends)', async () => {
    const pod = barePod({}, {});
    (pod.metadata as Json).labels[INJECT_LABEL] = 'true';
    const rev = review(pod, { namespace: 'default' }) as Json;
    const { json } = await wh.post(rev);
    const patched = applyPatch(structuredClone(rev.request.object), decodePatch(json.response))
      .newDocument as Json;
    assertApiServerRules(patched);
    sidecarOf(patched);
  });

  it('Pod Security: a namespace enforcing baseline or restricted gets no sidecar and a warning; privileged, warn-only or an unreadable one inject', () => {
    const pod = barePod() as never;
    for (const level of ['baseline', 'restricted']) {
      const r = mutatePod(pod, 'shop', TEST_INJECTION, {
        labels: {
          [POD_SECURITY_ENFORCE_LABEL]: level,
          [POD_SECURITY_ENFORCE_LABEL.replace('enforce', 'warn')]: 'privileged',
        },
      });
      assert.equal(r.injected, false);
      assert.equal(!r.injected && r.reason, 'pod-security');
      assert.match(r.warnings[0]!, new RegExp(`enforces Pod Security "${level}".*enforce=privileged`));
    }
    for (const labels of [
      { [POD_SECURITY_ENFORCE_LABEL]: 'privileged' } as Record<string, string>,
      { 'pod-security.kubernetes.io/warn': 'restricted' },
      {},
    ]) {
      const r = mutatePod(pod, 'shop', TEST_INJECTION, { labels });
      assert.equal(r.injected, true, JSON.stringify(labels));
      assert.deepEqual(r.warnings, []);
    }
    const unknown = mutatePod(pod, 'shop', TEST_INJECTION, { unreadable: 'no answer within 1500 ms' });
    assert.equal(unknown.injected, true);
    assert.match(
      unknown.warnings[0]!,
      /could not read namespace shop \(no answer within 1500 ms\).*will be refused/,
    );
  });

  it('the capabilities profile: exactly the listed capabilities, /dev/fuse from the node, not privileged; the pod validates', async () => {
    for (const [name, wh2] of [
      ['per pod, by annotation', wh],
      [
        'by the webhook default',
        await startWebhook({ injection: { ...TEST_INJECTION, sidecarProfile: 'capabilities' } }),
      ],
    ] as const) {
      try {
        const pod = barePod(
          {},
          { [INJECT_ANNOTATION]: 'true', [SIDECAR_PROFILE_ANNOTATION]: 'capabilities' },
        );
        const rev = review(pod, { namespace: 'default' }) as Json;
        const { json } = await wh2.post(rev);
        const patched = applyPatch(structuredClone(rev.request.object), decodePatch(json.response))
          .newDocument as Json;
        assertApiServerRules(patched);
        const sc = sidecarOf(patched);
        assert.equal(sc.securityContext.privileged, false, name);
        assert.deepEqual(sc.securityContext.capabilities, {
          drop: ['ALL'],
          add: SIDECAR_CAPABILITIES.map((c) => c.cap),
        });
        assert.equal(
          sc.securityContext.allowPrivilegeEscalation,
          undefined,
          'the API server refuses false with SYS_ADMIN',
        );
        assert.equal(sc.securityContext.seccompProfile.type, 'Unconfined');
        assert.equal(sc.securityContext.appArmorProfile.type, 'Unconfined');
        const fuse = sc.volumeMounts.find((m: Json) => m.mountPath === '/dev/fuse');
        const vol = patched.spec.volumes.find((v: Json) => v.name === fuse.name);
        assert.deepEqual(vol.hostPath, { path: '/dev/fuse', type: 'CharDevice' });
      } finally {
        if (wh2 !== wh) await wh2.close();
      }
    }
  });

  it('a pod cannot ask for the privileged profile when the webhook is set to capabilities', () => {
    const cfg = { ...TEST_INJECTION, sidecarProfile: 'capabilities' as const };
    const r = mutatePod(
      barePod({}, { [INJECT_ANNOTATION]: 'true', [SIDECAR_PROFILE_ANNOTATION]: 'privileged' }) as never,
      'default',
      cfg,
    );
    assert.equal(r.injected, false);
    assert.match(r.warnings[0]!, /cannot ask for more privilege/);
  });

  it('every capability in the list says what uses it, and the README lists the same ones', () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'webhook/README.md'), 'utf8');
    for (const { cap, why } of SIDECAR_CAPABILITIES) {
      assert.match(cap, /^[A-Z_]+$/);
      assert.ok(why.length > 20, cap);
      assert.match(readme, new RegExp(`\\bCAP_${cap}\\b`), `webhook/README.md does not list CAP_${cap}`);
    }
  });

  it('mutatePod never changes its input', () => {
    const pod = deploymentPod();
    const before = structuredClone(pod);
    const r = mutatePod(pod as never, 'shop', TEST_INJECTION);
    assert.equal(r.injected, true);
    assert.deepEqual(pod, before);
  });
});
