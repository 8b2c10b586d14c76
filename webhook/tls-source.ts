/**
 * Where the serving certificate comes from, one of three ways: made in memory (--self-signed), read
 * from files (--cert-dir, as a mounted Secret gives them), or kept in a Secret in the cluster with
 * the CA written into the MutatingWebhookConfiguration (the default, in-cluster; cluster-tls.ts,
 * loaded only in that mode because client-node takes over a second to load).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { createBundle } from './certs';
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
