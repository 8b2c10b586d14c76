/**
 * A generic in-memory object store with the API server's semantics that clients depend on:
 * resourceVersion on every write, 409 on a stale update, AlreadyExists, generateName, NotFound.
 * Objects are plain JSON, deep-copied in and out so callers cannot alias stored state.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { applyPatch, type Operation } from 'fast-json-patch';
import { type ResourceType, groupVersion, qualified } from './resources';
import { alreadyExists, badRequest, conflict, invalid, notFound } from './status';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    creationTimestamp?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export type PatchType = 'json' | 'merge';
export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';
export type ChangeListener = (type: ChangeType, resource: ResourceType, obj: KubeObject) => void;

const copy = <T>(v: T): T => structuredClone(v);

/** RFC 7386. Strategic merge is treated the same: enough for the maps and scalars tests patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return copy(patch);
  const out: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export class ObjectStore {
  private readonly objects = new Map<string, KubeObject>();
  private rv = 1000;
  private readonly listeners: ChangeListener[] = [];

  private key(t: ResourceType, namespace: string | undefined, name: string): string {
    return `${qualified(t)}/${t.namespaced ? namespace : ''}/${name}`;
  }

  /** Called after every successful write, e.g. to start a process when a pod is created. */
  onChange(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  private emit(type: ChangeType, t: ResourceType, obj: KubeObject): void {
    for (const l of this.listeners) l(type, t, copy(obj));
  }

  private stamp(t: ResourceType, obj: KubeObject): KubeObject {
    t.normalize?.(obj);
    obj.apiVersion = groupVersion(t);
    obj.kind = t.kind;
    obj.metadata!.resourceVersion = String(++this.rv);
    return obj;
  }

  get(t: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const obj = this.objects.get(this.key(t, namespace, name));
    if (!obj) throw notFound(qualified(t), name);
    return copy(obj);
  }

  has(t: ResourceType, namespace: string | undefined, name: string): boolean {
    return this.objects.has(this.key(t, namespace, name));
  }

  /** `namespace` undefined lists across all namespaces. */
  list(t: ResourceType, namespace?: string): { items: KubeObject[]; resourceVersion: string } {
    const prefix = `${qualified(t)}/${t.namespaced && namespace !== undefined ? `${namespace}/` : ''}`;
    const items = [...this.objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .map(([, v]) => copy(v))
      .sort((a, b) =>
        `${a.metadata!.namespace}/${a.metadata!.name}`.localeCompare(
          `${b.metadata!.namespace}/${b.metadata!.name}`,
        ),
      );
    return { items, resourceVersion: String(this.rv) };
  }

  create(t: ResourceType, namespace: string | undefined, input: KubeObject): KubeObject {
    const obj = copy(input);
    if (obj.kind !== undefined && obj.kind !== t.kind) {
      throw badRequest(`the object provided is ${obj.kind}, but the request is for ${t.kind}`);
    }
    const md = (obj.metadata ??= {});
    if (t.namespaced) {
      if (md.namespace !== undefined && md.namespace !== namespace) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      md.namespace = namespace;
    } else {
      delete md.namespace;
    }
    if (!md.name && md.generateName) md.name = md.generateName + randomBytes(4).toString('hex').slice(0, 5);
    if (!md.name)
      throw invalid(qualified(t), '', 'metadata.name: Required value: name or generateName is required');
    if (!NAME_RE.test(md.name) || md.name.length > 253) {
      throw invalid(
        qualified(t),
        md.name,
        `metadata.name: Invalid value: "${md.name}": must be a lowercase RFC 1123 subdomain`,
      );
    }
    const key = this.key(t, namespace, md.name);
    if (this.objects.has(key)) throw alreadyExists(qualified(t), md.name);
    md.uid = randomUUID();
    md.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    this.stamp(t, obj);
    this.objects.set(key, obj);
    this.emit('ADDED', t, obj);
    return copy(obj);
  }

  /** PUT semantics: a resourceVersion in the body must match the stored one (optimistic concurrency). */
  update(t: ResourceType, namespace: string | undefined, name: string, input: KubeObject): KubeObject {
    const current = this.get(t, namespace, name);
    const obj = copy(input);
    const md = (obj.metadata ??= {});
    if (md.name !== undefined && md.name !== name) {
      throw badRequest(`the name of the object (${md.name}) does not match the name on the URL (${name})`);
    }
    if (md.resourceVersion !== undefined && md.resourceVersion !== current.metadata!.resourceVersion) {
      throw conflict(qualified(t), name);
    }
    return this.replace(t, current, obj);
  }

  patch(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
  ): KubeObject {
    const current = this.get(t, namespace, name);
    let next: KubeObject;
    if (type === 'json') {
      if (!Array.isArray(patch)) throw badRequest('json patch must be an array of operations');
      try {
        next = applyPatch(copy(current), patch as Operation[], true, false).newDocument;
      } catch (err) {
        // The real server answers a failed `test` op, or a path that does not exist, with 422.
        throw invalid(qualified(t), name, `json patch: ${(err as Error).message.split('\n')[0]}`);
      }
    } else {
      next = mergePatch(current, patch) as KubeObject;
    }
    const rv = next.metadata?.resourceVersion;
    if (rv !== undefined && rv !== current.metadata!.resourceVersion) throw conflict(qualified(t), name);
    return this.replace(t, current, next);
  }

  delete(t: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const current = this.get(t, namespace, name);
    this.objects.delete(this.key(t, namespace, name));
    this.emit('DELETED', t, current);
    return current;
  }

  private replace(t: ResourceType, current: KubeObject, next: KubeObject): KubeObject {
    const md = (next.metadata ??= {});
    // Identity fields are the server's, whatever the client sent.
    for (const f of ['name', 'namespace', 'uid', 'creationTimestamp'] as const) md[f] = current.metadata![f];
    if (!t.namespaced) delete md.namespace;
    this.stamp(t, next);
    this.objects.set(this.key(t, current.metadata!.namespace, md.name!), next);
    this.emit('MODIFIED', t, next);
    return copy(next);
  }
}
