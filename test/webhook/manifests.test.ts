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
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import * as fs from 'node:fs';
import { parse } from 'yaml';
import {
  INJECT_ANNOTATION,
  INJECT_LABEL,
  NAMESPACE_INJECTION_ENABLED,
  NAMESPACE_INJECTION_LABEL,
} from '../../sidecar/api/names';
import { DEFAULT_CLUSTER } from '../../webhook/config';
import { type Json, REPO_ROOT } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const MODELS: Record<string, new (o: any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Secret': Secret,
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
    // Opt-in by namespace label and pod label, so other pods never reach the webhook.
    assert.deepEqual(w.namespaceSelector.matchLabels, {
      [NAMESPACE_INJECTION_LABEL]: NAMESPACE_INJECTION_ENABLED,
    });
    assert.deepEqual(w.objectSelector, { matchLabels: { [INJECT_LABEL]: 'true' } });
    assert.equal(INJECT_LABEL, INJECT_ANNOTATION, 'one key for the label and the annotation');
    const expr = w.namespaceSelector.matchExpressions[0];
    assert.equal(expr.key, 'kubernetes.io/metadata.name');
    assert.equal(expr.operator, 'NotIn');
    assert.deepEqual([...expr.values].sort(), ['iochaos-system', 'kube-system']);
  });

  it('RBAC: the webhook gets its own Secret and its one configuration by name, reads namespaces, and nothing else', () => {
    const role = one('Role', 'iochaos-webhook');
    assert.deepEqual(role.rules, [
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: [DEFAULT_CLUSTER.secretName],
        verbs: ['get', 'update'],
      },
    ]);
    // No create (it cannot be limited by name): the Secret ships with the manifests, empty.
    const secret = one('Secret', DEFAULT_CLUSTER.secretName);
    assert.equal(secret.metadata.namespace, DEFAULT_CLUSTER.namespace);
    assert.equal(secret.type, 'Opaque');
    assert.equal(secret.data, undefined, 'a re-apply must have no data field to reset');
    const cr = one('ClusterRole', 'iochaos-webhook');
    assert.deepEqual(cr.rules, [
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: [DEFAULT_CLUSTER.webhookConfigName],
        verbs: ['get', 'patch'],
      },
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] },
    ]);
    for (const b of [one('RoleBinding'), one('ClusterRoleBinding')]) {
      assert.deepEqual(b.subjects, [
        { kind: 'ServiceAccount', name: 'iochaos-webhook', namespace: DEFAULT_CLUSTER.namespace },
      ]);
      assert.equal(b.roleRef.name, 'iochaos-webhook');
    }
  });

  it('iochaos-user is bound per namespace only: no ClusterRoleBinding ships, and the example RoleBinding validates', () => {
    assert.ok(
      !objects.some((o) => o.kind === 'ClusterRoleBinding' && o.roleRef.name === 'iochaos-user'),
      'pods/exec into the sidecar is root on the node: never cluster-wide',
    );
    const file = path.join(REPO_ROOT, 'manifests/examples/iochaos-user-rolebinding.yaml');
    const text = fs.readFileSync(file, 'utf8');
    const rb = parse(text) as Json;
    new RoleBinding(rb as never).validate();
    assert.equal(rb.kind, 'RoleBinding');
    assert.deepEqual(rb.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'iochaos-user',
    });
    assert.ok(rb.metadata.namespace, 'a RoleBinding lives in the namespace it grants');
    assert.match(text, /root on the node/);
    assert.match(text, new RegExp(`${NAMESPACE_INJECTION_LABEL}=${NAMESPACE_INJECTION_ENABLED}`));
    assert.match(
      one('ClusterRole', 'iochaos-user').metadata.annotations['iochaos.dev/bind-with'],
      /RoleBinding/,
    );
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
