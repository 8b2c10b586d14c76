/**
 * Puts the CA bundle into the MutatingWebhookConfiguration, so the API server trusts the serving
 * certificate. Writes only when the value differs (every replica calls this on every resync), as a
 * JSONPatch derived from a mutated copy with `test` operations in front: if the object changed
 * since it was read (a re-apply reordering the webhooks), the API server refuses the patch (422)
 * and the next round re-reads, instead of writing into the wrong webhook.
 */
import {
  type AdmissionregistrationV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { compare } from 'fast-json-patch';
import { apiMessage, statusCode } from './k8s-errors';
import type { Logger } from './log';

export type CaBundleOutcome = 'updated' | 'unchanged' | 'missing';

export async function syncCaBundle(
  api: AdmissionregistrationV1Api,
  name: string,
  caBundlePem: string,
  logger: Logger,
  attempts = 3,
): Promise<CaBundleOutcome> {
  const want = Buffer.from(caBundlePem).toString('base64');
  for (let i = 0; i < attempts; i++) {
    let current: V1MutatingWebhookConfiguration;
    try {
      // client-node turns timestamps into Date objects, which compare() would walk as strings
      // character by character; plain JSON on both sides keeps the patch to what we changed.
      current = JSON.parse(JSON.stringify(await api.readMutatingWebhookConfiguration({ name })));
    } catch (err) {
      if (statusCode(err) === 404) {
        // Installed in the wrong order, or not yet: the next resync tries again.
        logger.warn(
          { webhookConfiguration: name },
          'MutatingWebhookConfiguration not found; caBundle not written yet',
        );
        return 'missing';
      }
      throw new Error(`cannot read MutatingWebhookConfiguration ${name}: ${apiMessage(err)}`, { cause: err });
    }
    const next: V1MutatingWebhookConfiguration = JSON.parse(JSON.stringify(current));
    for (const w of next.webhooks ?? []) {
      w.clientConfig = { ...w.clientConfig, caBundle: want };
    }
    const ops = compare(current, next, true);
    if (ops.length === 0) return 'unchanged';
    try {
      await api.patchMutatingWebhookConfiguration(
        { name, body: ops },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      );
      logger.info({ webhookConfiguration: name, webhooks: next.webhooks?.length ?? 0 }, 'wrote caBundle');
      return 'updated';
    } catch (err) {
      const code = statusCode(err);
      if (code !== 409 && code !== 422) {
        throw new Error(
          `cannot patch MutatingWebhookConfiguration ${name}: ${apiMessage(err)}` +
            (code === 403
              ? ' (check the ClusterRole in manifests/rbac.yaml: get and patch on it by name)'
              : ''),
          { cause: err },
        );
      }
      logger.info(
        { webhookConfiguration: name },
        'MutatingWebhookConfiguration changed while patching; re-reading',
      );
    }
  }
  throw new Error(
    `MutatingWebhookConfiguration ${name} kept changing under ${attempts} attempts to patch it`,
  );
}
