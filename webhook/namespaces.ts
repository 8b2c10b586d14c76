/**
 * The labels of a pod's namespace, which an AdmissionReview does not carry: read through the API
 * (`get namespaces`, manifests/rbac.yaml) and cached, so that a namespace enforcing Pod Security
 * `baseline` or `restricted` gets the pod admitted without the sidecar and a warning saying why,
 * instead of the whole pod refused by Pod Security admission after us.
 *
 * A read that fails or is slow never blocks the admission: the pod is injected with a warning.
 */
import type { CoreV1Api } from '@kubernetes/client-node';
import { apiMessage } from './k8s-errors';
import type { NamespaceInfo } from './mutate';

export type ReadLabels = (name: string) => Promise<Record<string, string>>;
export type NamespaceLookup = (name: string) => Promise<NamespaceInfo>;

export interface LookupOptions {
  /** How long labels are trusted; a relabelled namespace is seen after at most this long. */
  ttlMs: number;
  /** The admission has 5 s in all (the MutatingWebhookConfiguration's timeoutSeconds). */
  timeoutMs: number;
  /** Entries kept; the oldest go first (a cluster with more namespaces just reads more often). */
  maxEntries: number;
  now?: () => number;
}

export const DEFAULT_LOOKUP: LookupOptions = { ttlMs: 30_000, timeoutMs: 1_500, maxEntries: 1_000 };

export function apiLabelReader(core: CoreV1Api): ReadLabels {
  return async (name) => {
    const ns = await core.readNamespace({ name });
    return ns.metadata?.labels ?? {};
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * Cached, with one read in flight per namespace however many pods arrive at once. Failures are not
 * cached: the next pod tries again.
 */
export function cachedLookup(read: ReadLabels, opts: LookupOptions = DEFAULT_LOOKUP): NamespaceLookup {
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { at: number; labels: Promise<Record<string, string>> }>();
  return async (name) => {
    const hit = cache.get(name);
    let labels = hit !== undefined && now() - hit.at < opts.ttlMs ? hit.labels : undefined;
    if (labels === undefined) {
      labels = withTimeout(read(name), opts.timeoutMs);
      cache.delete(name);
      cache.set(name, { at: now(), labels });
      while (cache.size > opts.maxEntries) cache.delete(cache.keys().next().value!);
      labels.catch(() => {
        if (cache.get(name)?.labels === labels) cache.delete(name);
      });
    }
    try {
      return { labels: await labels };
    } catch (err) {
      return { unreadable: apiMessage(err) };
    }
  };
}
