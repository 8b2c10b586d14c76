/**
 * The certificates' home in the cluster: one Secret that every replica reads, and that at most one
 * replica writes per change. Writes are optimistic: create-if-absent (a 409 means another replica
 * won, so re-read and use its certificates) and replace-at-resourceVersion for renewals (a 409
 * means someone renewed first). Replicas therefore always converge on one CA, and the caBundle they
 * write agrees.
 */
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import {
  type CertBundle,
  createBundle,
  createCA,
  createServingCert,
  certInfo,
  dueForRenewal,
  joinPem,
  servingCertFits,
  splitPem,
} from './certs';
import { apiMessage, statusCode } from './k8s-errors';
import type { Logger } from './log';

/** The three calls the store needs; client-node's CoreV1Api behind it, or anything in a test. */
export interface SecretClient {
  read(): Promise<V1Secret | undefined>;
  create(secret: V1Secret): Promise<V1Secret>;
  replace(secret: V1Secret): Promise<V1Secret>;
}

export function secretClient(core: CoreV1Api, namespace: string, name: string): SecretClient {
  return {
    read: async () => {
      try {
        return await core.readNamespacedSecret({ name, namespace });
      } catch (err) {
        if (statusCode(err) === 404) return undefined;
        throw err;
      }
    },
    create: (body) => core.createNamespacedSecret({ namespace, body }),
    replace: (body) => core.replaceNamespacedSecret({ name, namespace, body }),
  };
}

const KEYS = {
  cert: 'tls.crt',
  key: 'tls.key',
  caCert: 'ca.crt',
  caKey: 'ca.key',
  caBundle: 'ca-bundle.crt',
} as const;

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined): string | undefined =>
  s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8');

function bundleFromSecret(secret: V1Secret): CertBundle | undefined {
  const d = secret.data ?? {};
  const [cert, key, caCert, caKey] = [d[KEYS.cert], d[KEYS.key], d[KEYS.caCert], d[KEYS.caKey]].map(unb64);
  if (!cert || !key || !caCert || !caKey) return undefined;
  return {
    ca: { cert: caCert, key: caKey },
    caBundle: unb64(d[KEYS.caBundle]) || caCert,
    serving: { cert, key },
  };
}

function secretData(b: CertBundle): Record<string, string> {
  return {
    [KEYS.cert]: b64(b.serving.cert),
    [KEYS.key]: b64(b.serving.key),
    [KEYS.caCert]: b64(b.ca.cert),
    [KEYS.caKey]: b64(b.ca.key),
    [KEYS.caBundle]: b64(b.caBundle),
  };
}

export type Outcome = 'loaded' | 'created' | 'renewed' | 'adopted';

/**
 * What the Secret should hold next, or undefined if what it holds is fine. A CA near its end is
 * replaced, and the old one stays in the bundle until it expires, so serving certs signed by either
 * verify while replicas switch over.
 */
export function nextBundle(
  current: CertBundle | undefined,
  names: string[],
  now: Date,
): { bundle: CertBundle; why: string } | undefined {
  if (current === undefined) return { bundle: createBundle(names, now), why: 'no usable certificates' };
  let ca = current.ca;
  let caBundle = current.caBundle;
  let why: string | undefined;
  try {
    if (dueForRenewal(ca.cert, now)) {
      ca = createCA('iochaos-webhook-ca', now);
      why = 'CA is due for renewal';
    }
  } catch {
    return { bundle: createBundle(names, now), why: 'CA certificate is unreadable' };
  }
  const alive = splitPem(caBundle).filter((pem) => certInfo(pem).notAfter.getTime() > now.getTime());
  caBundle = joinPem([ca.cert, ...alive.filter((pem) => pem.trim() !== ca.cert.trim())]);
  if (why === undefined) {
    if (!servingCertFits(current.serving, ca, names))
      why = 'serving certificate does not match the CA, key or DNS names';
    else if (dueForRenewal(current.serving.cert, now)) why = 'serving certificate is due for renewal';
  }
  if (why === undefined && caBundle === current.caBundle) return undefined;
  const serving = why === undefined ? current.serving : createServingCert(ca, names, now);
  return { bundle: { ca, caBundle, serving }, why: why ?? 'expired CA dropped from the bundle' };
}

export interface EnsureOptions {
  namespace: string;
  secretName: string;
  dnsNames: string[];
  logger: Logger;
  now?: () => Date;
  /** Rounds of read-then-write before giving up; each lost race costs one. */
  attempts?: number;
}

/** Loads the certificates from the Secret, creating or renewing them (once, cluster-wide) if needed. */
export async function ensureCertificates(
  client: SecretClient,
  opts: EnsureOptions,
): Promise<{ bundle: CertBundle; outcome: Outcome }> {
  const now = opts.now ?? (() => new Date());
  const where = `Secret ${opts.namespace}/${opts.secretName}`;
  const attempts = opts.attempts ?? 5;
  let lostRace = false;
  for (let i = 0; i < attempts; i++) {
    const secret = await client.read();
    const current = secret ? bundleFromSecret(secret) : undefined;
    const next = nextBundle(current, opts.dnsNames, now());
    if (next === undefined) return { bundle: current!, outcome: lostRace ? 'adopted' : 'loaded' };
    try {
      if (secret === undefined) {
        await client.create({
          apiVersion: 'v1',
          kind: 'Secret',
          type: 'kubernetes.io/tls',
          metadata: {
            name: opts.secretName,
            namespace: opts.namespace,
            labels: {
              'app.kubernetes.io/name': 'iochaos-webhook',
              'app.kubernetes.io/managed-by': 'iochaos-webhook',
            },
          },
          data: secretData(next.bundle),
        });
        opts.logger.info({ secret: where, why: next.why }, 'created certificates');
        return { bundle: next.bundle, outcome: 'created' };
      }
      // resourceVersion makes this a compare-and-swap: a stale read gets 409, not a lost update.
      await client.replace({
        ...secret,
        type: secret.type ?? 'kubernetes.io/tls',
        data: secretData(next.bundle),
      });
      // An empty Secret (as manifests/secret.yaml ships it) is filled in, not renewed.
      const outcome = Object.keys(secret.data ?? {}).length === 0 ? 'created' : 'renewed';
      opts.logger.info({ secret: where, why: next.why }, `${outcome} certificates`);
      return { bundle: next.bundle, outcome };
    } catch (err) {
      const code = statusCode(err);
      if (code !== 409) {
        throw new Error(
          `cannot write ${where}: ${apiMessage(err)}` +
            (code === 403
              ? secret === undefined
                ? ' (the Role in manifests/rbac.yaml grants no create on purpose: the Secret comes with ' +
                  'the manifests, manifests/secret.yaml; re-apply them with kubectl apply -k manifests/)'
                : ' (check the Role in manifests/rbac.yaml: get and update on this Secret, by name)'
              : ''),
          { cause: err },
        );
      }
      lostRace = true;
      opts.logger.info({ secret: where }, 'another replica wrote the certificates first; re-reading');
    }
  }
  throw new Error(
    `${where} kept changing under ${attempts} attempts to write it; is something else editing it?`,
  );
}
