/**
 * The in-cluster TLS source: certificates kept in a Secret (cert-store.ts), the CA written into the
 * MutatingWebhookConfiguration (ca-bundle.ts), both re-checked on every refresh.
 */
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { syncCaBundle } from './ca-bundle';
import { ensureCertificates, secretClient } from './cert-store';
import type { ClusterConfig } from './config';
import type { Logger } from './log';
import { apiLabelReader, cachedLookup, type NamespaceLookup } from './namespaces';
import type { TlsMaterial } from './server';
import type { TlsSource } from './tls-source';

/** `kubeconfig` undefined: in-cluster service account, else $KUBECONFIG or ~/.kube/config. */
export function loadKubeConfig(kubeconfig?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig !== undefined) kc.loadFromFile(kubeconfig);
  else kc.loadFromDefault();
  return kc;
}

/** Namespace labels for the Pod Security check, read with the same credentials, cached. */
export function namespaceLookup(kc: KubeConfig): NamespaceLookup {
  return cachedLookup(apiLabelReader(kc.makeApiClient(CoreV1Api)));
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
