/**
 * The Kubernetes API stand-in: HTTPS with its own CA and a bearer token, discovery that kubectl and
 * client-node accept, and generic REST over an ObjectStore for every registered resource type.
 * Extend it by registering resource types (`addResource`) and routes (`routes.add`,
 * `routes.upgrade`); see index.ts.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';
import { createBundle } from '../../../webhook/certs';
import { ALL_VERBS, BUILTIN_RESOURCES, groupVersion, qualified, type ResourceType } from './resources';
import { type RequestContext, RouteRegistry } from './routes';
import {
  ApiError,
  badRequest,
  methodNotAllowed,
  notFound,
  pathNotFound,
  unauthorized,
  unsupportedMediaType,
} from './status';
import { type KubeObject, ObjectStore, type PatchType } from './store';

export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  contentType?: string;
  status?: number;
}

/**
 * An admission step, as kube-apiserver runs them before an object is stored: returns the object to
 * store (mutated or not) or throws an ApiError to refuse the request.
 */
export type Admit = (t: ResourceType, namespace: string | undefined, obj: KubeObject) => Promise<KubeObject>;

export interface StartOptions {
  /** Where to listen (default 127.0.0.1); containers reach the stand-in on their bridge's gateway. */
  host?: string;
  /** More names or IPs the serving certificate must be valid for. */
  altNames?: string[];
}

export const KUBERNETES_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-iochaos-standin',
  platform: 'linux/amd64',
};

const PATCH_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'merge',
};

export class FakeApiServer {
  readonly routes = new RouteRegistry();
  readonly store = new ObjectStore();
  /** Every request, in order, with the status it got: for tests that assert on what a client did. */
  readonly requests: RecordedRequest[] = [];
  readonly token = randomBytes(16).toString('hex');
  /** Run in order on every create, before the object is stored (see createAdmitted). */
  readonly admission: Admit[] = [];
  /** More bearer tokens accepted (e.g. service account tokens the kubelet mounts into pods). */
  readonly tokens = new Set<string>();
  readonly ca: string;
  private readonly types: ResourceType[] = [];
  private readonly server: https.Server;
  private port = 0;

  private constructor(altNames: string[]) {
    const bundle = createBundle(['localhost', '127.0.0.1', ...altNames]);
    this.ca = bundle.caBundle;
    this.server = https.createServer({ ...bundle.serving, minVersion: 'TLSv1.2' }, (req, res) => {
      void this.handle(req, res);
    });
    this.server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
      const url = new URL(req.url ?? '/', 'https://localhost');
      const found = this.routes.findUpgrade(url.pathname);
      this.requests.push({ method: 'UPGRADE', path: url.pathname, query: url.search });
      if (!this.authorized(req) || !found) {
        socket.end(`HTTP/1.1 ${found ? '401 Unauthorized' : '404 Not Found'}\r\nConnection: close\r\n\r\n`);
        return;
      }
      found.handler(req, socket, head, found.params, url.searchParams);
    });
    for (const t of BUILTIN_RESOURCES) this.addResource(t);
  }

  static async start(opts: StartOptions = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(opts.altNames ?? []);
    await new Promise<void>((resolve) => s.server.listen(0, opts.host ?? '127.0.0.1', resolve));
    s.port = (s.server.address() as AddressInfo).port;
    for (const ns of ['default', 'kube-system'])
      s.create('', 'namespaces', undefined, { metadata: { name: ns } });
    return s;
  }

  get listenPort(): number {
    return this.port;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  addResource(t: ResourceType): void {
    this.types.push({ verbs: ALL_VERBS, ...t });
  }

  resource(group: string, plural: string): ResourceType {
    const t = this.types.find((r) => r.group === group && r.plural === plural);
    if (!t) throw new Error(`stand-in: no resource ${plural} in group "${group}"; addResource it first`);
    return t;
  }

  /** Direct store access for test set-up, bypassing HTTP. */
  create(group: string, plural: string, namespace: string | undefined, obj: KubeObject): KubeObject {
    return this.store.create(this.resource(group, plural), namespace, obj);
  }

  /** A create as a client's POST makes it: through every admission step, then stored. */
  async createAdmitted(
    t: ResourceType,
    namespace: string | undefined,
    input: KubeObject,
  ): Promise<KubeObject> {
    let obj = input;
    for (const admit of this.admission) obj = await admit(t, namespace, obj);
    return this.store.create(t, namespace, obj);
  }

  get(group: string, plural: string, namespace: string | undefined, name: string): KubeObject {
    return this.store.get(this.resource(group, plural), namespace, name);
  }

  kubeconfig(namespace = 'default'): string {
    return stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'standin',
          cluster: {
            server: this.url,
            'certificate-authority-data': Buffer.from(this.ca).toString('base64'),
          },
        },
      ],
      users: [{ name: 'standin', user: { token: this.token } }],
      contexts: [{ name: 'standin', context: { cluster: 'standin', user: 'standin', namespace } }],
      'current-context': 'standin',
    });
  }

  writeKubeconfig(file: string, namespace?: string): string {
    fs.writeFileSync(file, this.kubeconfig(namespace), { mode: 0o600 });
    return file;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private authorized(req: IncomingMessage): boolean {
    const auth = req.headers.authorization ?? '';
    return auth === `Bearer ${this.token}` || (auth.startsWith('Bearer ') && this.tokens.has(auth.slice(7)));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      contentType: req.headers['content-type'],
    };
    this.requests.push(record);
    let bodyPromise: Promise<Buffer> | undefined;
    const ctx: RequestContext = {
      req,
      res,
      params: {},
      query: url.searchParams,
      body: () =>
        (bodyPromise ??= new Promise<Buffer>((resolve, reject) => {
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => resolve(Buffer.concat(chunks)));
          req.on('error', reject);
        })),
      send: (code, obj) => {
        record.status = code;
        res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(obj));
      },
    };
    try {
      if (!this.authorized(req)) throw unauthorized();
      const custom = this.routes.find(record.method, url.pathname);
      if (custom) {
        ctx.params = custom.params;
        await custom.handler(ctx);
        record.status ??= res.statusCode;
        return;
      }
      await this.builtin(ctx, record.method, url.pathname);
    } catch (err) {
      if (err instanceof ApiError) return ctx.send(err.status.code, err.status);
      ctx.send(500, {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'InternalError',
        code: 500,
        message: String(err),
      });
    }
  }

  private async builtin(ctx: RequestContext, method: string, path: string): Promise<void> {
    const segs = path.split('/').filter((s) => s !== '');
    if (path === '/version') return ctx.send(200, KUBERNETES_VERSION);
    if (path === '/api') {
      return ctx.send(200, {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}` }],
      });
    }
    if (path === '/apis') return ctx.send(200, this.groupList());
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api' && segs.length >= 2) [group, version, rest] = ['', segs[1]!, segs.slice(2)];
    else if (segs[0] === 'apis' && segs.length >= 3)
      [group, version, rest] = [segs[1]!, segs[2]!, segs.slice(3)];
    else throw pathNotFound(path);

    const inGv = this.types.filter((t) => t.group === group && t.version === version);
    if (inGv.length === 0) throw pathNotFound(path);
    if (rest.length === 0) return ctx.send(200, this.resourceList(group, version, inGv));

    let namespace: string | undefined;
    if (
      rest[0] === 'namespaces' &&
      rest.length >= 3 &&
      inGv.some((t) => t.namespaced && t.plural === rest[2])
    ) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const t = inGv.find((r) => r.plural === rest[0]);
    if (!t || rest.length > 2) throw pathNotFound(path);
    if (namespace !== undefined && !t.namespaced) throw pathNotFound(path);
    const name = rest[1];
    if (name === undefined) return this.collection(ctx, method, t, namespace);
    if (t.namespaced && namespace === undefined) throw pathNotFound(path);
    return this.item(ctx, method, t, namespace, name);
  }

  private async json(ctx: RequestContext): Promise<unknown> {
    const type = ctx.req.headers['content-type'] ?? '';
    // kubectl's typed generators (create secret, create namespace) send protobuf; -f manifests send JSON.
    if (type.includes('protobuf')) throw unsupportedMediaType(`${type}: the stand-in decodes JSON only`);
    const raw = (await ctx.body()).toString('utf8');
    try {
      return JSON.parse(raw);
    } catch (err) {
      throw badRequest(`the body of the request could not be decoded: ${(err as Error).message}`);
    }
  }

  private async collection(
    ctx: RequestContext,
    method: string,
    t: ResourceType,
    namespace?: string,
  ): Promise<void> {
    if (method === 'GET') {
      if (['1', 'true'].includes(ctx.query.get('watch') ?? '')) {
        throw methodNotAllowed('WATCH', `${qualified(t)} (the stand-in does not serve watches)`);
      }
      const { items, resourceVersion } = this.store.list(t, namespace);
      return ctx.send(200, {
        kind: `${t.kind}List`,
        apiVersion: groupVersion(t),
        metadata: { resourceVersion },
        items,
      });
    }
    if (method === 'POST') {
      if (namespace !== undefined && !this.store.has(this.resource('', 'namespaces'), undefined, namespace)) {
        throw notFound('namespaces', namespace);
      }
      const created = await this.createAdmitted(t, namespace, (await this.json(ctx)) as KubeObject);
      return ctx.send(201, created);
    }
    throw methodNotAllowed(method, qualified(t));
  }

  private async item(
    ctx: RequestContext,
    method: string,
    t: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<void> {
    switch (method) {
      case 'GET':
        return ctx.send(200, this.store.get(t, namespace, name));
      case 'PUT':
        return ctx.send(200, this.store.update(t, namespace, name, (await this.json(ctx)) as KubeObject));
      case 'PATCH': {
        const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim();
        const kind = PATCH_TYPES[type];
        if (!kind) throw unsupportedMediaType(type || 'none');
        return ctx.send(200, this.store.patch(t, namespace, name, kind, await this.json(ctx)));
      }
      case 'DELETE':
        return ctx.send(200, this.store.delete(t, namespace, name));
      default:
        throw methodNotAllowed(method, qualified(t));
    }
  }

  private groupList(): unknown {
    const groups = new Map<string, string[]>();
    for (const t of this.types) {
      if (t.group === '') continue;
      const versions = groups.get(t.group) ?? [];
      if (!versions.includes(t.version)) versions.push(t.version);
      groups.set(t.group, versions);
    }
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups].map(([name, versions]) => ({
        name,
        versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
        preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
      })),
    };
  }

  private resourceList(group: string, version: string, types: ResourceType[]): unknown {
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: groupVersion({ group, version }),
      resources: types.flatMap((t) => [
        {
          name: t.plural,
          singularName: t.kind.toLowerCase(),
          namespaced: t.namespaced,
          kind: t.kind,
          verbs: t.verbs ?? ALL_VERBS,
          ...(t.shortNames ? { shortNames: t.shortNames } : {}),
        },
        ...(t.subresources ?? []).map((s) => ({
          name: `${t.plural}/${s.name}`,
          singularName: '',
          namespaced: t.namespaced,
          kind: s.kind ?? t.kind,
          verbs: s.verbs,
        })),
      ]),
    };
  }
}
