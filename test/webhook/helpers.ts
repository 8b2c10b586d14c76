/** A webhook running in this process over real HTTPS, with its logs captured, for the tests. */
import * as https from 'node:https';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { createBundle } from '../../webhook/certs';
import {
  DEFAULT_INJECTION,
  DEFAULT_SERVER,
  type InjectionConfig,
  type ServerConfig,
} from '../../webhook/config';
import { createLogger, type Logger } from '../../webhook/log';
import { createMetrics, type WebhookMetrics } from '../../webhook/metrics';
import { type AppDeps, createApp, type RunningServer, serve } from '../../webhook/server';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

export const REPO_ROOT = path.resolve(__dirname, '../../..');

/** The configuration the golden files were made with; pinned so a default change shows up as a diff. */
export const TEST_INJECTION: InjectionConfig = {
  ...DEFAULT_INJECTION,
  sidecarImage: 'ghcr.io/iochaos/chaosfs:0.1.0',
  excludeNamespaces: ['kube-system', 'iochaos-system'],
};

export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n'))
      if (line.trim() !== '') this.lines.push(JSON.parse(line));
    cb();
  }
}

export interface TestWebhook {
  port: number;
  ca: string;
  logs: LogCapture;
  logger: Logger;
  metrics: WebhookMetrics;
  server: RunningServer;
  request(
    opts: https.RequestOptions & { body?: string | Buffer },
  ): Promise<{ status: number; headers: Record<string, unknown>; body: string }>;
  post(body: unknown, headers?: Record<string, string>): Promise<{ status: number; json: Json }>;
  close(): Promise<void>;
}

export async function startWebhook(
  opts: {
    injection?: InjectionConfig;
    server?: Partial<ServerConfig>;
    mutate?: AppDeps['mutate'];
    namespaceLookup?: AppDeps['namespaceLookup'];
  } = {},
): Promise<TestWebhook> {
  const bundle = createBundle(['localhost', '127.0.0.1']);
  const logs = new LogCapture();
  const logger = createLogger('debug', logs);
  const metrics = createMetrics({ processMetrics: false });
  const app = createApp({
    injection: opts.injection ?? TEST_INJECTION,
    logger,
    metrics,
    bodyLimitBytes: opts.server?.bodyLimitBytes ?? DEFAULT_SERVER.bodyLimitBytes,
    mutate: opts.mutate,
    namespaceLookup: opts.namespaceLookup,
  });
  const server = await serve(
    app,
    bundle.serving,
    { ...DEFAULT_SERVER, host: '127.0.0.1', port: 0, ...opts.server },
    logger,
  );
  const request: TestWebhook['request'] = ({ body, ...o }) =>
    new Promise((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port: server.port, ca: bundle.caBundle, servername: 'localhost', ...o },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  return {
    port: server.port,
    ca: bundle.caBundle,
    logs,
    logger,
    metrics,
    server,
    request,
    post: async (body, headers = {}) => {
      const r = await request({
        method: 'POST',
        path: '/mutate',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: r.status, json: JSON.parse(r.body) };
    },
    close: () => server.close(),
  };
}
