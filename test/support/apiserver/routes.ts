/**
 * A small route registry, so that other modules can add endpoints (pods/exec over WebSocket, logs)
 * without touching the server. Routes registered here are matched before the generic REST routes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export type Params = Record<string, string>;

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Params;
  query: URLSearchParams;
  /** The raw body, read once. */
  body(): Promise<Buffer>;
  /** Writes `obj` as JSON with `code`. */
  send(code: number, obj: unknown): void;
}

export type Handler = (ctx: RequestContext) => void | Promise<void>;
/** Gets the socket of an HTTP Upgrade request (WebSocket), e.g. to hand it to `ws`'s handleUpgrade. */
export type UpgradeHandler = (
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  params: Params,
  query: URLSearchParams,
) => void;

interface Route<H> {
  method: string;
  parts: string[];
  handler: H;
}

/** `/api/v1/namespaces/:namespace/pods/:name/exec` → ['api','v1','namespaces',':namespace',...] */
const split = (path: string): string[] => path.split('/').filter((p) => p !== '');

function match(parts: string[], path: string[]): Params | undefined {
  if (parts.length !== path.length) return undefined;
  const params: Params = {};
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.startsWith(':')) params[p.slice(1)] = decodeURIComponent(path[i]!);
    else if (p !== path[i]) return undefined;
  }
  return params;
}

export class RouteRegistry {
  private readonly routes: Route<Handler>[] = [];
  private readonly upgrades: Route<UpgradeHandler>[] = [];

  /** `method` is an HTTP method or '*'. Later registrations win over earlier ones. */
  add(method: string, pattern: string, handler: Handler): () => void {
    const r = { method: method.toUpperCase(), parts: split(pattern), handler };
    this.routes.unshift(r);
    return () => this.routes.splice(this.routes.indexOf(r), 1);
  }

  upgrade(pattern: string, handler: UpgradeHandler): () => void {
    const r = { method: 'GET', parts: split(pattern), handler };
    this.upgrades.unshift(r);
    return () => this.upgrades.splice(this.upgrades.indexOf(r), 1);
  }

  find(method: string, path: string): { handler: Handler; params: Params } | undefined {
    return this.lookup(this.routes, method, path);
  }

  findUpgrade(path: string): { handler: UpgradeHandler; params: Params } | undefined {
    return this.lookup(this.upgrades, 'GET', path);
  }

  private lookup<H>(
    routes: Route<H>[],
    method: string,
    path: string,
  ): { handler: H; params: Params } | undefined {
    const segs = split(path);
    for (const r of routes) {
      if (r.method !== '*' && r.method !== method.toUpperCase()) continue;
      const params = match(r.parts, segs);
      if (params) return { handler: r.handler, params };
    }
    return undefined;
  }
}
