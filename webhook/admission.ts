/**
 * AdmissionReview v1 on the wire: checks what the API server sent, and builds the answer. A review
 * that cannot be answered (no uid, not a review) is a BadReviewError, which the server turns into a
 * 400; a well-formed review the webhook has no business with is answered "allowed" with a warning.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { compare, type Operation } from 'fast-json-patch';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: string;
  object?: unknown;
  dryRun?: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: true;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export class BadReviewError extends Error {
  override readonly name = 'BadReviewError';
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  return typeof v === 'string' ? JSON.stringify(v.slice(0, 60)) : `a ${typeof v}`;
}

/** Checks the envelope and the request; the object inside is checked by `podOf`. */
export function parseReview(body: unknown): AdmissionRequest {
  const expect = `expected an ${ADMISSION_API_VERSION} AdmissionReview with a request, as the API server sends`;
  if (!isObject(body)) throw new BadReviewError(`body is ${describe(body)}: ${expect}`);
  if (body.kind !== 'AdmissionReview') throw new BadReviewError(`kind is ${describe(body.kind)}: ${expect}`);
  if (body.apiVersion !== ADMISSION_API_VERSION) {
    throw new BadReviewError(
      `apiVersion is ${describe(body.apiVersion)}: only ${ADMISSION_API_VERSION} is served; ` +
        'set admissionReviewVersions: ["v1"] in the MutatingWebhookConfiguration',
    );
  }
  const req = body.request;
  if (!isObject(req)) throw new BadReviewError(`request is ${describe(req)}: ${expect}`);
  if (typeof req.uid !== 'string' || req.uid === '') {
    throw new BadReviewError(
      `request.uid is ${describe(req.uid)}: the answer must echo it, so it is required`,
    );
  }
  const gvk = req.kind;
  if (!isObject(gvk) || typeof gvk.kind !== 'string' || typeof gvk.version !== 'string') {
    throw new BadReviewError(`request.kind is ${describe(gvk)}: expected {group, version, kind}`);
  }
  const resource = isObject(req.resource) ? req.resource : {};
  if (typeof req.operation !== 'string') {
    throw new BadReviewError(`request.operation is ${describe(req.operation)}: expected CREATE`);
  }
  for (const key of ['namespace', 'name', 'subResource'] as const) {
    if (req[key] !== undefined && typeof req[key] !== 'string') {
      throw new BadReviewError(`request.${key} is ${describe(req[key])}: expected a string`);
    }
  }
  return {
    uid: req.uid,
    kind: { group: String(gvk.group ?? ''), version: gvk.version, kind: gvk.kind },
    resource: {
      group: String(resource.group ?? ''),
      version: String(resource.version ?? ''),
      resource: String(resource.resource ?? ''),
    },
    subResource: req.subResource as string | undefined,
    name: req.name as string | undefined,
    namespace: req.namespace as string | undefined,
    operation: req.operation,
    object: req.object,
    dryRun: req.dryRun === true,
  };
}

/**
 * Why this well-formed review is none of the webhook's business, or undefined for a Pod CREATE.
 * Such reviews come from a MutatingWebhookConfiguration whose rules were edited; they are let
 * through rather than refused, because this webhook must never block anything.
 */
export function notPodCreate(req: AdmissionRequest): string | undefined {
  const k = req.kind;
  if (k.group !== '' || k.version !== 'v1' || k.kind !== 'Pod' || (req.subResource ?? '') !== '') {
    const what = `${k.group || 'core'}/${k.version} ${k.kind}${req.subResource ? `/${req.subResource}` : ''}`;
    return `iochaos-webhook only mutates v1 Pods but was sent ${what}: check the webhook's rules`;
  }
  if (req.operation !== 'CREATE') {
    return `iochaos-webhook only handles CREATE but was sent ${req.operation}: check the webhook's rules`;
  }
  return undefined;
}

/** The pod inside a Pod review; anything that cannot be a pod is a malformed review. */
export function podOf(req: AdmissionRequest): V1Pod {
  const obj = req.object;
  if (!isObject(obj)) throw new BadReviewError(`request.object is ${describe(obj)}: expected the Pod`);
  if (obj.kind !== undefined && obj.kind !== 'Pod') {
    throw new BadReviewError(`request.object.kind is ${describe(obj.kind)} but request.kind says Pod`);
  }
  if (obj.metadata !== undefined && !isObject(obj.metadata)) {
    throw new BadReviewError(`request.object.metadata is ${describe(obj.metadata)}: expected an object`);
  }
  const md = obj.metadata;
  for (const key of ['labels', 'annotations'] as const) {
    const map = md?.[key];
    if (map === undefined) continue;
    if (!isObject(map)) throw new BadReviewError(`request.object.metadata.${key} is ${describe(map)}`);
    for (const [k, v] of Object.entries(map)) {
      if (typeof v !== 'string') {
        throw new BadReviewError(
          `request.object.metadata.${key}[${JSON.stringify(k.slice(0, 60))}] is ${describe(v)}: values are strings`,
        );
      }
    }
  }
  if (!isObject(obj.spec))
    throw new BadReviewError(`request.object.spec is ${describe(obj.spec)}: a Pod needs one`);
  for (const key of ['containers', 'volumes', 'initContainers'] as const) {
    const v = obj.spec[key];
    if (v !== undefined && !(Array.isArray(v) && v.every(isObject))) {
      throw new BadReviewError(`request.object.spec.${key} is ${describe(v)}: expected a list of objects`);
    }
  }
  return obj as V1Pod;
}

/** The JSONPatch from `original` to `mutated`, derived, never written by hand. */
export function patchBetween(original: unknown, mutated: unknown): Operation[] {
  return compare(original as object, mutated as object);
}

export function allow(
  uid: string,
  opts: { patch?: Operation[]; warnings?: string[] } = {},
): AdmissionReviewResponse {
  const response: AdmissionResponse = { uid, allowed: true };
  if (opts.patch !== undefined && opts.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(opts.patch)).toString('base64');
  }
  if (opts.warnings !== undefined && opts.warnings.length > 0) response.warnings = opts.warnings;
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}
