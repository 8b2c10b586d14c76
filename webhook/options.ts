/**
 * The command's options, kubectl-style: `complete` fills them from flags and env, `validate` refuses
 * bad combinations with a message saying what to do. Both are pure, so each is tested alone.
 */
import { POD_NAMESPACE_ENV } from '../sidecar/api/names';
import {
  type ClusterConfig,
  DEFAULT_CLUSTER,
  DEFAULT_INJECTION,
  DEFAULT_SERVER,
  type InjectionConfig,
  type ServerConfig,
} from './config';
import { isSidecarProfile, SIDECAR_PROFILES, type SidecarProfile } from './sidecar-security';

export type TlsMode =
  | { kind: 'self-signed'; writeCa?: string }
  | { kind: 'cert-dir'; dir: string }
  | { kind: 'secret'; kubeconfig?: string };

export interface Options {
  tls: TlsMode;
  server: ServerConfig;
  injection: InjectionConfig;
  cluster: ClusterConfig;
  logLevel: string;
  /** After SIGTERM, how long /readyz says 503 before the listener closes (endpoints catch up). */
  shutdownDelayMs: number;
}

/** The flags as yargs hands them over; every one optional so tests can pass only what they set. */
export interface Flags {
  port?: number;
  host?: string;
  selfSigned?: boolean;
  writeCa?: string;
  certDir?: string;
  kubeconfig?: string;
  namespace?: string;
  serviceName?: string;
  secretName?: string;
  webhookConfigName?: string;
  sidecarImage?: string;
  sidecarPullPolicy?: string;
  sidecarProfile?: string;
  namespaces?: string[];
  excludeNamespaces?: string[];
  bodyLimit?: string;
  requestTimeout?: string;
  resync?: string;
  shutdownDelay?: string;
  logLevel?: string;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "10s", "5m", "1h" (kubectl's duration style). */
export function parseDuration(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v.trim());
  if (!m)
    throw new UsageError(`--${flag} ${JSON.stringify(v)} is not a duration: use e.g. 500ms, 10s, 5m or 1h`);
  return Math.round(Number(m[1]) * UNITS_MS[m[2]!]!);
}

const UNITS_B: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, K: 1000, M: 1000 ** 2 };

/** "3Mi", "512Ki", "1000000" (Kubernetes quantity style). */
export function parseBytes(flag: string, v: string): number {
  const m = /^(\d+)(Ki|Mi|K|M|)$/.exec(v.trim());
  if (!m)
    throw new UsageError(`--${flag} ${JSON.stringify(v)} is not a size: use e.g. 3Mi, 512Ki or 1000000`);
  return Number(m[1]) * UNITS_B[m[2]!]!;
}

const list = (v: string[] | undefined): string[] =>
  (v ?? [])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');

export function complete(flags: Flags, env: NodeJS.ProcessEnv = process.env): Options {
  const namespace = flags.namespace ?? env[POD_NAMESPACE_ENV] ?? DEFAULT_CLUSTER.namespace;
  const tls: TlsMode = flags.selfSigned
    ? { kind: 'self-signed', writeCa: flags.writeCa }
    : flags.certDir !== undefined
      ? { kind: 'cert-dir', dir: flags.certDir }
      : { kind: 'secret', kubeconfig: flags.kubeconfig };
  const exclude =
    flags.excludeNamespaces !== undefined
      ? list(flags.excludeNamespaces)
      : DEFAULT_INJECTION.excludeNamespaces;
  return {
    tls,
    server: {
      ...DEFAULT_SERVER,
      port: flags.port ?? DEFAULT_SERVER.port,
      host: flags.host ?? DEFAULT_SERVER.host,
      bodyLimitBytes: flags.bodyLimit
        ? parseBytes('body-limit', flags.bodyLimit)
        : DEFAULT_SERVER.bodyLimitBytes,
      requestTimeoutMs: flags.requestTimeout
        ? parseDuration('request-timeout', flags.requestTimeout)
        : DEFAULT_SERVER.requestTimeoutMs,
    },
    injection: {
      ...DEFAULT_INJECTION,
      sidecarImage: flags.sidecarImage ?? env.IOCHAOS_SIDECAR_IMAGE ?? DEFAULT_INJECTION.sidecarImage,
      sidecarImagePullPolicy: (flags.sidecarPullPolicy ??
        DEFAULT_INJECTION.sidecarImagePullPolicy) as InjectionConfig['sidecarImagePullPolicy'],
      sidecarProfile: (flags.sidecarProfile ?? DEFAULT_INJECTION.sidecarProfile) as SidecarProfile,
      includeNamespaces: list(flags.namespaces),
      // Never inject into our own namespace: the webhook's pods must start without the webhook.
      excludeNamespaces: [...new Set([...exclude, namespace])],
    },
    cluster: {
      namespace,
      serviceName: flags.serviceName ?? DEFAULT_CLUSTER.serviceName,
      secretName: flags.secretName ?? DEFAULT_CLUSTER.secretName,
      webhookConfigName: flags.webhookConfigName ?? DEFAULT_CLUSTER.webhookConfigName,
      resyncMs: flags.resync ? parseDuration('resync', flags.resync) : DEFAULT_CLUSTER.resyncMs,
    },
    logLevel: flags.logLevel ?? 'info',
    shutdownDelayMs: flags.shutdownDelay ? parseDuration('shutdown-delay', flags.shutdownDelay) : 5000,
  };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function validate(o: Options, flags: Flags = {}): void {
  if (flags.selfSigned && flags.certDir !== undefined) {
    throw new UsageError('--self-signed and --cert-dir both give the certificate: pass one of them');
  }
  if (flags.writeCa !== undefined && !flags.selfSigned) {
    throw new UsageError('--write-ca only applies with --self-signed (other modes already have the CA)');
  }
  if (flags.kubeconfig !== undefined && o.tls.kind !== 'secret') {
    throw new UsageError(
      '--kubeconfig is only used to reach the Secret; drop it with --self-signed or --cert-dir',
    );
  }
  if (!Number.isInteger(o.server.port) || o.server.port < 0 || o.server.port > 65535) {
    throw new UsageError(`--port ${o.server.port} is not a TCP port: use 0 to 65535 (0 picks a free one)`);
  }
  for (const [flag, v] of [
    ['namespace', o.cluster.namespace],
    ['service-name', o.cluster.serviceName],
    ...o.injection.includeNamespaces.map((n) => ['namespaces', n]),
    ...o.injection.excludeNamespaces.map((n) => ['exclude-namespaces', n]),
  ] as const) {
    if (!DNS_LABEL.test(v) || v.length > 63) {
      throw new UsageError(
        `--${flag} ${JSON.stringify(v)} is not a valid Kubernetes name (lowercase DNS label)`,
      );
    }
  }
  if (!['Always', 'IfNotPresent', 'Never'].includes(o.injection.sidecarImagePullPolicy)) {
    throw new UsageError(
      `--sidecar-pull-policy ${o.injection.sidecarImagePullPolicy}: use Always, IfNotPresent or Never`,
    );
  }
  if (!isSidecarProfile(o.injection.sidecarProfile)) {
    throw new UsageError(
      `--sidecar-profile ${o.injection.sidecarProfile}: use ${SIDECAR_PROFILES.join(' or ')}`,
    );
  }
  if (o.injection.sidecarImage.trim() === '' || /\s/.test(o.injection.sidecarImage)) {
    throw new UsageError(
      `--sidecar-image ${JSON.stringify(o.injection.sidecarImage)} is not an image reference`,
    );
  }
  if (!LEVELS.includes(o.logLevel))
    throw new UsageError(`--log-level ${o.logLevel}: use one of ${LEVELS.join(', ')}`);
  if (o.server.bodyLimitBytes < 64 * 1024) {
    throw new UsageError(
      '--body-limit below 64Ki would refuse ordinary pods: AdmissionReviews carry the whole Pod',
    );
  }
}
