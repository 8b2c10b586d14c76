/**
 * Where the serving certificate comes from, one of three ways: made in memory (--self-signed), read
 * from files (--cert-dir, as a mounted Secret gives them), or kept in a Secret in the cluster with
 * the CA written into the MutatingWebhookConfiguration (the default, in-cluster).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { syncCaBundle } from './ca-bundle';
import { ensureCertificates, secretClient } from './cert-store';
import { createBundle } from './certs';
import type { ClusterConfig } from './config';
import type { Logger } from './log';
import type { TlsMaterial } from './server';

export interface TlsSource {
  /** The certificates to start with, and the CA that clients should trust when known. */
  initial(): Promise<TlsMaterial & { ca?: string }>;
  /** Re-checks; returns new material only when it changed. */
  refresh(): Promise<TlsMaterial | undefined>;
}

export function selfSigned(names: string[], logger: Logger): TlsSource {
  const bundle = createBundle(names);
  return {
    initial: async () => {
      logger.info(
        { names },
        'self-signed: made a CA and serving certificate in memory; not writing any caBundle (--self-signed skips that step)',
      );
      return { ...bundle.serving, ca: bundle.caBundle };
    },
    refresh: async () => undefined,
  };
}

export function certDir(dir: string, logger: Logger): TlsSource {
  const files = { cert: path.join(dir, 'tls.crt'), key: path.join(dir, 'tls.key') };
  let last: TlsMaterial | undefined;
  const read = async (): Promise<TlsMaterial> => {
    try {
      const [cert, key] = await Promise.all([
        fs.readFile(files.cert, 'utf8'),
        fs.readFile(files.key, 'utf8'),
      ]);
      return { cert, key };
    } catch (err) {
      throw new Error(
        `cannot read the serving certificate from --cert-dir ${dir}: ${(err as Error).message} ` +
          '(it needs tls.crt and tls.key, as a mounted kubernetes.io/tls Secret provides)',
        { cause: err },
      );
    }
  };
  return {
    initial: async () => {
      last = await read();
      logger.info({ dir }, 'loaded serving certificate from --cert-dir; not writing any caBundle');
      return last;
    },
    // The kubelet updates a mounted Secret in place; pick the new files up without a restart.
    refresh: async () => {
      const now = await read();
      if (last && now.cert === last.cert && now.key === last.key) return undefined;
      last = now;
      logger.info({ dir }, 'serving certificate in --cert-dir changed; reloaded');
      return now;
    },
  };
}

export function clusterSecret(kc: KubeConfig, c: ClusterConfig, names: string[], logger: Logger): TlsSource {
  const core = kc.makeApiClient(CoreV1Api);
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const secrets = secretClient(core, c.namespace, c.secretName);
  let served: string | undefined;
  const round = async (): Promise<TlsMaterial> => {
    const { bundle, outcome } = await ensureCertificates(secrets, {
      namespace: c.namespace,
      secretName: c.secretName,
      dnsNames: names,
      logger,
    });
    if (outcome === 'loaded' && served === undefined) {
      logger.info({ secret: `${c.namespace}/${c.secretName}` }, 'loaded certificates from Secret');
    }
    await syncCaBundle(admission, c.webhookConfigName, bundle.caBundle, logger);
    return bundle.serving;
  };
  return {
    initial: async () => {
      const m = await round();
      served = m.cert;
      return m;
    },
    refresh: async () => {
      const m = await round();
      if (m.cert === served) return undefined;
      served = m.cert;
      return m;
    },
  };
}
