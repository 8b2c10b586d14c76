/**
 * What the webhook injects and where, in one typed place. Defaults come first, then env (how the
 * Deployment sets them), then flags (cli.ts); the product never reads env anywhere else.
 */
import type { V1ResourceRequirements } from '@kubernetes/client-node';
import type { SidecarProfile } from './sidecar-security';

export const DEFAULT_SIDECAR_IMAGE = 'ghcr.io/iochaos/chaosfs:0.1.0';

export interface InjectionConfig {
  sidecarImage: string;
  sidecarImagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  sidecarResources: V1ResourceRequirements;
  /** The default security profile; a pod may ask for `capabilities` (less) with an annotation. */
  sidecarProfile: SidecarProfile;
  /** Empty means every namespace not in `excludeNamespaces`. */
  includeNamespaces: string[];
  /** Checked after `includeNamespaces`; the webhook's own namespace is always added (cli.ts). */
  excludeNamespaces: string[];
}

export interface ServerConfig {
  port: number;
  host: string;
  /** AdmissionReviews carry the object and oldObject; etcd caps an object near 1.5 MiB. */
  bodyLimitBytes: number;
  /** A client that has not finished its request by then is cut off, so it cannot hold a socket. */
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  handshakeTimeoutMs: number;
}

/** Where the in-cluster mode keeps its certificates and which objects it names. */
export interface ClusterConfig {
  namespace: string;
  serviceName: string;
  secretName: string;
  webhookConfigName: string;
  /** How often to re-read the Secret and re-check the caBundle (other replicas may have renewed). */
  resyncMs: number;
}

export const DEFAULT_INJECTION: InjectionConfig = {
  sidecarImage: DEFAULT_SIDECAR_IMAGE,
  sidecarImagePullPolicy: 'IfNotPresent',
  // FUSE pass-through of a busy volume is CPU-bound in the daemon; memory is mostly buffers.
  sidecarResources: {
    requests: { cpu: '50m', memory: '64Mi' },
    limits: { cpu: '1', memory: '256Mi' },
  },
  sidecarProfile: 'privileged',
  includeNamespaces: [],
  excludeNamespaces: ['kube-system'],
};

export const DEFAULT_SERVER: ServerConfig = {
  port: 8443,
  host: '0.0.0.0',
  bodyLimitBytes: 3 * 1024 * 1024,
  // The MutatingWebhookConfiguration gives the API server 5 s; nothing legitimate takes longer.
  requestTimeoutMs: 10_000,
  headersTimeoutMs: 5_000,
  keepAliveTimeoutMs: 65_000,
  handshakeTimeoutMs: 5_000,
};

export const DEFAULT_CLUSTER: ClusterConfig = {
  namespace: 'iochaos-system',
  serviceName: 'iochaos-webhook',
  secretName: 'iochaos-webhook-tls',
  webhookConfigName: 'iochaos-webhook',
  resyncMs: 10 * 60 * 1000,
};

/** Whether pods in `namespace` may be injected under `cfg`. */
export function namespaceAllowed(cfg: InjectionConfig, namespace: string): boolean {
  if (cfg.includeNamespaces.length > 0 && !cfg.includeNamespaces.includes(namespace)) return false;
  return !cfg.excludeNamespaces.includes(namespace);
}

/** The DNS names the API server may use to reach the Service; all go into the serving cert. */
export function serviceDnsNames(c: Pick<ClusterConfig, 'serviceName' | 'namespace'>): string[] {
  const s = c.serviceName;
  const ns = c.namespace;
  return [s, `${s}.${ns}`, `${s}.${ns}.svc`, `${s}.${ns}.svc.cluster.local`];
}
