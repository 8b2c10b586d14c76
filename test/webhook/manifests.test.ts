/**
 * `kubectl kustomize manifests/` (the real kubectl) builds, every object validates against the
 * Kubernetes schema (kubernetes-models), and the settings the issue asks for are there.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { DEFAULT_CLUSTER } from '../../webhook/config';
import { type Json, REPO_ROOT } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const MODELS: Record<string, new (o: any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration,
};

describe('manifests: kubectl kustomize manifests/', () => {
  let objects: Json[];
  const one = (kind: string, name?: string): Json => {
    const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
    assert.equal(found.length, 1, `expected one ${kind} ${name ?? ''}, found ${found.length}`);
    return found[0]!;
  };

  before(async () => {
    const { stdout } = await promisify(execFile)('kubectl', ['kustomize', path.join(REPO_ROOT, 'manifests')]);
    objects = parseAllDocuments(stdout).map((d) => d.toJSON() as Json);
  });

  it('builds, and every object validates against the Kubernetes schema', () => {
    assert.ok(objects.length >= 10, `only ${objects.length} objects`);
    for (const o of objects) {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      assert.ok(Model, `no schema check for ${o.apiVersion} ${o.kind}: add it to MODELS`);
      assert.doesNotThrow(() => new Model(o).validate(), `${o.kind}/${o.metadata.name}`);
    }
  });

  it('has the Namespace, ServiceAccount, Service and a PodDisruptionBudget', () => {
    one('Namespace', DEFAULT_CLUSTER.namespace);
    one('ServiceAccount', 'iochaos-webhook');
    const svc = one('Service', DEFAULT_CLUSTER.serviceName);
    assert.equal(svc.spec.ports[0].port, 443);
    assert.equal(one('PodDisruptionBudget').spec.minAvailable, 1);
    for (const o of objects.filter(
      (x) =>
        !x.kind.startsWith('Cluster') && x.kind !== 'Namespace' && x.kind !== 'MutatingWebhookConfiguration',
    )) {
      assert.equal(o.metadata.namespace, DEFAULT_CLUSTER.namespace, `${o.kind}/${o.metadata.name}`);
    }
  });

  it('the Deployment: 2 replicas, probes, resources, non-root, read-only root file system', () => {
    const d = one('Deployment');
    assert.equal(d.spec.replicas, 2);
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    assert.equal(pod.serviceAccountName, 'iochaos-webhook');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.equal(c.readinessProbe.httpGet.scheme, 'HTTPS');
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.ok(c.resources.requests.cpu && c.resources.limits.memory);
    assert.equal(
      c.env.find((e: Json) => e.name === 'POD_NAMESPACE').valueFrom.fieldRef.fieldPath,
      'metadata.namespace',
    );
    assert.deepEqual(d.spec.selector.matchLabels, one('Service').spec.selector);
    assert.deepEqual(one('PodDisruptionBudget').spec.selector.matchLabels, d.spec.selector.matchLabels);
  });

  it('the MutatingWebhookConfiguration: Ignore, None, short timeout, v1 reviews, leaves out kube-system and its own namespace', () => {
    const m = one('MutatingWebhookConfiguration', DEFAULT_CLUSTER.webhookConfigName);
    assert.equal(m.webhooks.length, 1);
    const w = m.webhooks[0];
    assert.equal(w.failurePolicy, 'Ignore');
    assert.equal(w.sideEffects, 'None');
    assert.ok(w.timeoutSeconds <= 5);
    assert.deepEqual(w.admissionReviewVersions, ['v1']);
    assert.deepEqual(w.clientConfig.service, {
      name: DEFAULT_CLUSTER.serviceName,
      namespace: DEFAULT_CLUSTER.namespace,
      path: '/mutate',
      port: 443,
    });
    assert.equal(
      w.clientConfig.caBundle,
      undefined,
      'the webhook writes the caBundle; a static one would be overwritten',
    );
    assert.deepEqual(w.rules, [
      {
        operations: ['CREATE'],
        apiGroups: [''],
        apiVersions: ['v1'],
        resources: ['pods'],
        scope: 'Namespaced',
      },
    ]);
    const expr = w.namespaceSelector.matchExpressions[0];
    assert.equal(expr.key, 'kubernetes.io/metadata.name');
    assert.equal(expr.operator, 'NotIn');
    assert.deepEqual([...expr.values].sort(), ['iochaos-system', 'kube-system']);
  });

  it('RBAC: the webhook gets its own Secret and its one configuration by name, and nothing else', () => {
    const role = one('Role', 'iochaos-webhook');
    for (const r of role.rules) {
      assert.deepEqual(r.resources, ['secrets']);
      if (r.verbs.includes('create'))
        assert.deepEqual(r.verbs, ['create'], 'create is the only verb without a name');
      else assert.deepEqual(r.resourceNames, [DEFAULT_CLUSTER.secretName]);
    }
    const cr = one('ClusterRole', 'iochaos-webhook');
    assert.deepEqual(cr.rules, [
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: [DEFAULT_CLUSTER.webhookConfigName],
        verbs: ['get', 'patch'],
      },
    ]);
    for (const b of [one('RoleBinding'), one('ClusterRoleBinding')]) {
      assert.deepEqual(b.subjects, [
        { kind: 'ServiceAccount', name: 'iochaos-webhook', namespace: DEFAULT_CLUSTER.namespace },
      ]);
      assert.equal(b.roleRef.name, 'iochaos-webhook');
    }
  });

  it('a ClusterRole for plugin users: get pods, create pods/exec', () => {
    const user = one('ClusterRole', 'iochaos-user');
    const can = (res: string, verb: string) =>
      user.rules.some((r: Json) => r.resources.includes(res) && r.verbs.includes(verb));
    assert.ok(can('pods', 'get'));
    assert.ok(can('pods/exec', 'create'));
    assert.ok(!can('pods', 'delete') && !can('secrets', 'get'));
  });
});
