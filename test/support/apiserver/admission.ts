/**
 * Mutating admission as kube-apiserver runs it: for each MutatingWebhookConfiguration in the store
 * whose rules, namespaceSelector and objectSelector match a create, POST an AdmissionReview v1 over
 * TLS, verifying the webhook's certificate against the caBundle the configuration holds (for the
 * Service's DNS name), and apply the JSONPatch it answers. A webhook that cannot be reached or
 * answers garbage fails the request only under failurePolicy: Fail.
 *
 * A `service` clientConfig is dialled at one of the Service's ready endpoints, found as the
 * endpoints controller finds them (pods matching the selector, Ready, with a podIP; a named
 * targetPort resolved through their containerPorts): there is no kube-proxy here.
 */
import { randomUUID } from 'node:crypto';
import * as https from 'node:https';
import { applyPatch, type Operation } from 'fast-json-patch';
import { type ResourceType, groupVersion } from './resources';
import type { FakeApiServer } from './server';
import { selectorMatches, type LabelSelector } from './selectors';
import { ApiError } from './status';
import type { KubeObject } from './store';

interface Webhook {
  name: string;
  clientConfig: {
    url?: string;
    caBundle?: string;
    service?: { name: string; namespace: string; path?: string; port?: number };
  };
  rules?: { operations?: string[]; apiGroups?: string[]; apiVersions?: string[]; resources?: string[] }[];
  failurePolicy?: 'Ignore' | 'Fail';
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  timeoutSeconds?: number;
}

export interface AdmissionCall {
  webhook: string;
  resource: string;
  namespace?: string;
  /** patched / allowed: the webhook answered; ignored: it failed and failurePolicy is Ignore. */
  outcome: 'patched' | 'allowed' | 'denied' | 'ignored' | 'failed';
  error?: string;
}

type Labels = Record<string, string>;
const labelsOf = (o: KubeObject | undefined): Labels => (o?.metadata?.labels ?? {}) as Labels;
const any = (list: string[] | undefined, v: string) => !list || list.includes('*') || list.includes(v);

function failure(code: number, reason: string, message: string): ApiError {
  return new ApiError({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    reason,
    code,
    message,
  });
}

/** Adds the mutating admission step to `api`; the returned list records every call. */
export function serveMutatingAdmission(api: FakeApiServer): AdmissionCall[] {
  const calls: AdmissionCall[] = [];
  api.admission.push(async (t, namespace, obj) => {
    const configs = api.store.list(
      api.resource('admissionregistration.k8s.io', 'mutatingwebhookconfigurations'),
    ).items;
    let current = obj;
    for (const cfg of configs) {
      for (const hook of (cfg.webhooks ?? []) as Webhook[]) {
        if (!matches(api, hook, t, namespace, current)) continue;
        current = await call(api, hook, t, namespace, current, calls);
      }
    }
    return current;
  });
  return calls;
}

function matches(
  api: FakeApiServer,
  hook: Webhook,
  t: ResourceType,
  namespace: string | undefined,
  obj: KubeObject,
): boolean {
  const ruleOk = (hook.rules ?? []).some(
    (r) =>
      any(r.operations, 'CREATE') &&
      any(r.apiGroups, t.group) &&
      any(r.apiVersions, t.version) &&
      any(r.resources, t.plural),
  );
  if (!ruleOk) return false;
  if (namespace !== undefined) {
    const ns = api.store.has(api.resource('', 'namespaces'), undefined, namespace)
      ? api.get('', 'namespaces', undefined, namespace)
      : undefined;
    if (!selectorMatches(hook.namespaceSelector, labelsOf(ns))) return false;
  }
  return selectorMatches(hook.objectSelector, labelsOf(obj));
}

interface Target {
  host: string;
  port: number;
  path: string;
  servername?: string;
}

/** Where the API server would send the review: the url, or a ready endpoint of the Service. */
function resolve(api: FakeApiServer, hook: Webhook): Target {
  const { url, service } = hook.clientConfig;
  if (url) {
    const u = new URL(url);
    return { host: u.hostname, port: Number(u.port || 443), path: u.pathname + u.search };
  }
  if (!service) throw new Error('clientConfig has neither url nor service');
  const svc = api.get('', 'services', service.namespace, service.name) as {
    spec?: { selector?: Labels; ports?: { port: number; targetPort?: number | string }[] };
  };
  const port = svc.spec?.ports?.find((p) => p.port === (service.port ?? 443));
  if (!port)
    throw new Error(`service ${service.namespace}/${service.name} has no port ${service.port ?? 443}`);
  const pods = api.store
    .list(api.resource('', 'pods'), service.namespace)
    .items.filter(
      (p) => svc.spec?.selector && selectorMatches({ matchLabels: svc.spec.selector }, labelsOf(p)),
    );
  for (const pod of pods as {
    spec?: { containers?: { ports?: { name?: string; containerPort: number }[] }[] };
    status?: { podIP?: string; conditions?: { type: string; status: string }[] };
  }[]) {
    const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    if (!ready || !pod.status?.podIP) continue;
    const target = port.targetPort ?? port.port;
    const number =
      typeof target === 'number'
        ? target
        : pod.spec?.containers?.flatMap((c) => c.ports ?? []).find((p) => p.name === target)?.containerPort;
    if (number === undefined) continue;
    return {
      host: pod.status.podIP,
      port: number,
      path: service.path ?? '/',
      servername: `${service.name}.${service.namespace}.svc`,
    };
  }
  throw new Error(`service "${service.name}" has no ready endpoints`);
}

function post(target: Target, ca: string | undefined, body: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolveP, reject) => {
    const req = https.request(
      {
        host: target.host,
        port: target.port,
        path: target.path,
        method: 'POST',
        ca,
        servername: target.servername,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200)
            return reject(new Error(`status ${res.statusCode}: ${text.slice(0, 200)}`));
          try {
            resolveP(JSON.parse(text));
          } catch {
            reject(new Error(`the response is not JSON: ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`context deadline exceeded (${timeoutMs} ms)`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function call(
  api: FakeApiServer,
  hook: Webhook,
  t: ResourceType,
  namespace: string | undefined,
  obj: KubeObject,
  calls: AdmissionCall[],
): Promise<KubeObject> {
  const record = { webhook: hook.name, resource: t.plural, namespace };
  const uid = randomUUID();
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: t.group, version: t.version, kind: t.kind },
      resource: { group: t.group, version: t.version, resource: t.plural },
      requestKind: { group: t.group, version: t.version, kind: t.kind },
      requestResource: { group: t.group, version: t.version, resource: t.plural },
      name: obj.metadata?.name,
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'system:admin', groups: ['system:masters', 'system:authenticated'] },
      object: { ...obj, apiVersion: groupVersion(t), kind: t.kind },
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
  let response: {
    uid?: string;
    allowed?: boolean;
    patch?: string;
    patchType?: string;
    status?: { message?: string };
  };
  try {
    const ca = hook.clientConfig.caBundle
      ? Buffer.from(hook.clientConfig.caBundle, 'base64').toString()
      : undefined;
    const answer = (await post(
      resolve(api, hook),
      ca,
      JSON.stringify(review),
      (hook.timeoutSeconds ?? 10) * 1000,
    )) as {
      response?: typeof response;
    };
    if (!answer.response || answer.response.uid !== uid)
      throw new Error('the AdmissionReview response has no matching uid');
    response = answer.response;
  } catch (err) {
    const message = `failed calling webhook "${hook.name}": ${(err as Error).message}`;
    if ((hook.failurePolicy ?? 'Fail') === 'Ignore') {
      calls.push({ ...record, outcome: 'ignored', error: message });
      return obj;
    }
    calls.push({ ...record, outcome: 'failed', error: message });
    throw failure(500, 'InternalError', `Internal error occurred: ${message}`);
  }
  if (!response.allowed) {
    calls.push({ ...record, outcome: 'denied' });
    throw failure(
      400,
      'BadRequest',
      `admission webhook "${hook.name}" denied the request: ${response.status?.message ?? ''}`,
    );
  }
  if (!response.patch) {
    calls.push({ ...record, outcome: 'allowed' });
    return obj;
  }
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString()) as Operation[];
  calls.push({ ...record, outcome: 'patched' });
  return applyPatch(structuredClone(obj), ops, true, false).newDocument;
}
