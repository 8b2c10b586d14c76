/**
 * AdmissionReviews shaped as kube-apiserver 1.32 sends them to a mutating webhook: after defaulting
 * and after the built-in ServiceAccount admission plugin (hence the projected kube-api-access
 * volume and its mounts), with the request metadata (userInfo, options, requestKind) filled in.
 */
import { INJECT_ANNOTATION } from '../../sidecar/api/names';

type Json = Record<string, unknown>;

const tokenVolume = (suffix: string): Json => ({
  name: `kube-api-access-${suffix}`,
  projected: {
    defaultMode: 420,
    sources: [
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      {
        downwardAPI: {
          items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
        },
      },
    ],
  },
});

const tokenMount = (suffix: string): Json => ({
  name: `kube-api-access-${suffix}`,
  mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
  readOnly: true,
});

const containerDefaults = {
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'File',
  imagePullPolicy: 'IfNotPresent',
};

const podSpecDefaults = {
  restartPolicy: 'Always',
  terminationGracePeriodSeconds: 30,
  dnsPolicy: 'ClusterFirst',
  securityContext: {},
  schedulerName: 'default-scheduler',
  tolerations: [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    {
      key: 'node.kubernetes.io/unreachable',
      operator: 'Exists',
      effect: 'NoExecute',
      tolerationSeconds: 300,
    },
  ],
  priority: 0,
  enableServiceLinks: true,
  preemptionPolicy: 'PreemptLowerPriority',
};

export function review(
  object: Json,
  opts: { namespace: string; uid?: string; name?: string; user?: Json },
): Json {
  return {
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid: opts.uid ?? '0f6c7b2e-3d4a-4b8e-9a51-7c2d9e1f4a60',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      ...(opts.name ? { name: opts.name } : {}),
      namespace: opts.namespace,
      operation: 'CREATE',
      userInfo: opts.user ?? {
        username: 'system:serviceaccount:kube-system:replicaset-controller',
        uid: 'b3f1a7c4-5e62-4f0d-8c93-2a6e1d7b9f05',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
      },
      object,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

/** A pod that a ReplicaSet controller creates for Deployment "shop-api": generateName, no name. */
export function deploymentPod(annotations: Record<string, string> = { [INJECT_ANNOTATION]: 'true' }): Json {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      generateName: 'shop-api-6d8f9c7b54-',
      namespace: 'shop',
      creationTimestamp: null,
      labels: { app: 'shop-api', 'pod-template-hash': '6d8f9c7b54' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-20T09:14:03Z', ...annotations },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'shop-api-6d8f9c7b54',
          uid: '9c1e5a7d-2b34-4f6e-8d90-1a2b3c4d5e6f',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2026-11-28T10:02:11Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': {
              'f:annotations': {
                '.': {},
                [`f:${INJECT_ANNOTATION}`]: {},
                'f:kubectl.kubernetes.io/restartedAt': {},
              },
              'f:generateName': {},
              'f:labels': { '.': {}, 'f:app': {}, 'f:pod-template-hash': {} },
              'f:ownerReferences': { '.': {}, 'k:{"uid":"9c1e5a7d-2b34-4f6e-8d90-1a2b3c4d5e6f"}': {} },
            },
            'f:spec': { 'f:containers': { 'k:{"name":"api"}': {}, 'k:{"name":"metrics-proxy"}': {} } },
          },
        },
      ],
    },
    spec: {
      volumes: [
        { name: 'data', persistentVolumeClaim: { claimName: 'shop-data' } },
        { name: 'cache', emptyDir: { sizeLimit: '1Gi' } },
        tokenVolume('x7k2p'),
      ],
      initContainers: [
        {
          name: 'migrate',
          image: 'registry.example.com/shop/api:4.2.1',
          command: ['/app/migrate', '--to=latest'],
          env: [{ name: 'DB_URL', valueFrom: { secretKeyRef: { name: 'shop-db', key: 'url' } } }],
          resources: { requests: { cpu: '100m', memory: '64Mi' } },
          volumeMounts: [tokenMount('x7k2p')],
          ...containerDefaults,
        },
      ],
      containers: [
        {
          name: 'api',
          image: 'registry.example.com/shop/api:4.2.1',
          ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
          env: [{ name: 'DATA_DIR', value: '/data' }],
          resources: { limits: { cpu: '2', memory: '1Gi' }, requests: { cpu: '500m', memory: '512Mi' } },
          volumeMounts: [
            { name: 'data', mountPath: '/data' },
            { name: 'cache', mountPath: '/var/cache/shop' },
            tokenMount('x7k2p'),
          ],
          readinessProbe: {
            httpGet: { path: '/ready', port: 'http', scheme: 'HTTP' },
            timeoutSeconds: 1,
            periodSeconds: 10,
            successThreshold: 1,
            failureThreshold: 3,
          },
          securityContext: { allowPrivilegeEscalation: false, runAsNonRoot: true, runAsUser: 10001 },
          ...containerDefaults,
        },
        {
          name: 'metrics-proxy',
          image: 'registry.example.com/infra/metrics-proxy:1.9.0',
          args: ['--upstream=http://127.0.0.1:8080/metrics'],
          ports: [{ name: 'metrics', containerPort: 9090, protocol: 'TCP' }],
          resources: { limits: { cpu: '100m', memory: '64Mi' }, requests: { cpu: '10m', memory: '32Mi' } },
          volumeMounts: [tokenMount('x7k2p')],
          ...containerDefaults,
        },
      ],
      serviceAccountName: 'shop-api',
      serviceAccount: 'shop-api',
      ...podSpecDefaults,
    },
    status: { phase: 'Pending', qosClass: 'Burstable' },
  };
}

/** `kubectl run debug --image=busybox` with the annotation: a named pod, one container. */
export function barePod(
  extraSpec: Json = {},
  annotations: Record<string, string> = { [INJECT_ANNOTATION]: 'true' },
): Json {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name: 'debug',
      namespace: 'default',
      creationTimestamp: null,
      labels: { run: 'debug' },
      annotations,
      managedFields: [
        {
          manager: 'kubectl-run',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2026-11-28T10:05:40Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': { 'f:labels': { '.': {}, 'f:run': {} } },
            'f:spec': { 'f:containers': { 'k:{"name":"debug"}': {} } },
          },
        },
      ],
    },
    spec: {
      volumes: [tokenVolume('q9w4z')],
      containers: [
        {
          name: 'debug',
          image: 'busybox:1.36',
          args: ['sleep', '3600'],
          resources: {},
          volumeMounts: [tokenMount('q9w4z')],
          ...containerDefaults,
        },
      ],
      serviceAccountName: 'default',
      serviceAccount: 'default',
      ...podSpecDefaults,
      ...extraSpec,
    },
    status: { phase: 'Pending', qosClass: 'BestEffort' },
  };
}

/**
 * A pod that already carries the sidecar, as when someone re-creates a pod from `kubectl get -o yaml`
 * of an injected one. Written out by hand, not produced by the webhook.
 */
export function alreadyInjectedPod(): Json {
  const pod = barePod({ shareProcessNamespace: true });
  const spec = pod.spec as { containers: Json[]; volumes: Json[] };
  spec.containers.push({
    name: 'chaosfs',
    image: 'ghcr.io/iochaos/chaosfs:0.0.9',
    command: ['chaosfs', 'daemon'],
    securityContext: { privileged: true },
    volumeMounts: [{ name: 'iochaos-state', mountPath: '/var/lib/iochaos' }],
    ...containerDefaults,
  });
  spec.volumes.push({ name: 'iochaos-state', emptyDir: {} });
  return pod;
}

export const CASES = {
  'deployment-pod': () =>
    review(deploymentPod(), { namespace: 'shop', uid: '5b8f0c2a-7e1d-4c3b-a6f9-0d2e4b6c8a13' }),
  'bare-pod': () =>
    review(barePod(), {
      namespace: 'default',
      name: 'debug',
      uid: 'e2a9d4c1-6b7f-4e3a-9c05-8f1d2b3a4c5e',
      user: { username: 'jane@example.com', groups: ['system:authenticated'] },
    }),
  'share-process-namespace-false': () =>
    review(barePod({ shareProcessNamespace: false }), {
      namespace: 'default',
      name: 'debug',
      uid: 'a1b2c3d4-0000-4000-8000-000000000001',
    }),
};
