/**
 * The HTTP surface: the express app (/mutate, /healthz, /readyz, /metrics) and the HTTPS server it
 * runs in (TLS 1.2+, timeouts for slow clients, certificates swappable without a restart).
 */
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import {
  type AdmissionRequest,
  BadReviewError,
  allow,
  notPodCreate,
  parseReview,
  patchBetween,
  podOf,
} from './admission';
import type { InjectionConfig, ServerConfig } from './config';
import type { Logger } from './log';
import type { WebhookMetrics } from './metrics';
import { mutatePod, optedIn } from './mutate';
import type { NamespaceLookup } from './namespaces';

export interface AppDeps {
  injection: InjectionConfig;
  logger: Logger;
  metrics: WebhookMetrics;
  bodyLimitBytes: number;
  /** False while starting or draining; /readyz reports it so the Service stops routing to us. */
  ready?: () => boolean;
  /** The pod's namespace labels (Pod Security); absent when the webhook has no API access. */
  namespaceLookup?: NamespaceLookup;
  /** The mutation; replaceable so a test can prove that an internal error still admits the pod. */
  mutate?: typeof mutatePod;
}

/** The error body for requests that cannot be answered with an AdmissionReview: a metav1.Status. */
function status(res: Response, code: number, reason: string, message: string): void {
  res
    .status(code)
    .json({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, message, code });
}

export const INTERNAL_ERROR_WARNING =
  'iochaos-webhook: internal error; the pod was admitted without the chaosfs sidecar (see the webhook logs)';

export function createApp(deps: AppDeps): express.Express {
  const { logger, metrics, injection } = deps;
  const mutate = deps.mutate ?? mutatePod;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');

  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/readyz', (_req, res) => {
    const ready = deps.ready?.() ?? true;
    res
      .status(ready ? 200 : 503)
      .type('text/plain')
      .send(ready ? 'ok\n' : 'not ready\n');
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  const answer = (res: Response, code: number, started: bigint, body: unknown): void => {
    metrics.requests.inc({ code: String(code) });
    metrics.latency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    res.status(code).json(body);
  };

  const mutateRoute = async (req: Request, res: Response): Promise<void> => {
    const started = process.hrtime.bigint();
    let review: AdmissionRequest;
    try {
      review = parseReview(req.body);
    } catch (err) {
      return badRequest(res, started, err);
    }
    const { uid } = review;
    const namespace = review.namespace ?? '';
    try {
      const offTopic = notPodCreate(review);
      if (offTopic !== undefined) {
        logger.warn({ uid, kind: review.kind, operation: review.operation }, offTopic);
        metrics.skips.inc({ reason: 'not-pod-create' });
        return answer(res, 200, started, allow(uid, { warnings: [offTopic] }));
      }
      const pod = podOf(review);
      const ns =
        deps.namespaceLookup !== undefined && optedIn(pod) ? await deps.namespaceLookup(namespace) : {};
      const result = mutate(pod, namespace, injection, ns);
      const who = { uid, namespace, name: pod.metadata?.name, generateName: pod.metadata?.generateName };
      if (!result.injected) {
        metrics.skips.inc({ reason: result.reason });
        // Warnings reach kubectl only for pods created directly; for a Deployment's pods they go to
        // the controller, so the log is where an operator finds them.
        const line = { ...who, reason: result.reason, warnings: result.warnings };
        if (result.warnings.length > 0) logger.info(line, 'admitted without sidecar');
        else logger.debug(line, 'admitted without sidecar');
        return answer(res, 200, started, allow(uid, { warnings: result.warnings }));
      }
      const patch = patchBetween(pod, result.pod);
      metrics.injections.inc();
      logger.info({ ...who, dryRun: review.dryRun, warnings: result.warnings }, 'injected chaosfs sidecar');
      return answer(res, 200, started, allow(uid, { patch, warnings: result.warnings }));
    } catch (err) {
      if (err instanceof BadReviewError) return badRequest(res, started, err, uid);
      // Never block pod creation over our own bug: admit unmutated, warn the user, log the cause.
      metrics.errors.inc({ kind: 'internal' });
      logger.error({ uid, namespace, err }, 'internal error; admitted the pod unmutated');
      return answer(res, 200, started, allow(uid, { warnings: [INTERNAL_ERROR_WARNING] }));
    }
  };

  const badRequest = (res: Response, started: bigint, err: unknown, uid?: string): void => {
    const message = err instanceof Error ? err.message : String(err);
    metrics.errors.inc({ kind: 'bad_request' });
    logger.warn({ uid, reason: message }, 'malformed AdmissionReview');
    metrics.requests.inc({ code: '400' });
    metrics.latency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    status(res, 400, 'BadRequest', `malformed AdmissionReview: ${message}`);
  };

  app.post(
    '/mutate',
    (req, res, next) => {
      if (!req.is('application/json')) {
        metrics.errors.inc({ kind: 'bad_request' });
        metrics.requests.inc({ code: '415' });
        const got = req.headers['content-type'] || 'none';
        return status(res, 415, 'UnsupportedMediaType', `Content-Type is ${got}: send application/json`);
      }
      next();
    },
    express.json({ limit: deps.bodyLimitBytes, strict: false, type: 'application/json' }),
    mutateRoute,
  );

  app.use((req, res) => {
    status(res, 404, 'NotFound', `no route for ${req.method} ${req.path}: the webhook serves POST /mutate`);
  });

  // body-parser's errors (bad JSON, too large, bad encoding) and anything else thrown in a route.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { status?: number; type?: string; message?: string; limit?: number };
    const code = typeof e.status === 'number' && e.status >= 400 && e.status < 500 ? e.status : 500;
    metrics.requests.inc({ code: String(code) });
    metrics.errors.inc({ kind: code === 500 ? 'internal' : 'bad_request' });
    if (code === 500) logger.error({ err, path: req.path }, 'unhandled error');
    else logger.warn({ type: e.type, path: req.path, reason: e.message }, 'rejected request body');
    if (res.headersSent) return;
    if (e.type === 'entity.too.large') {
      return status(
        res,
        413,
        'RequestEntityTooLarge',
        `body exceeds the ${e.limit} byte limit (--body-limit)`,
      );
    }
    if (e.type === 'entity.parse.failed') {
      return status(
        res,
        400,
        'BadRequest',
        `malformed AdmissionReview: body is not valid JSON (${e.message})`,
      );
    }
    const reason = code === 500 ? 'InternalError' : code === 415 ? 'UnsupportedMediaType' : 'BadRequest';
    status(res, code, reason, e.message ?? 'request failed');
  });
  return app;
}

export interface TlsMaterial {
  cert: string;
  key: string;
}

export interface RunningServer {
  server: https.Server;
  port: number;
  /** Serve new certificates to new connections (after a renewal) without dropping old ones. */
  setTls(tls: TlsMaterial): void;
  close(): Promise<void>;
}

export async function serve(
  app: express.Express,
  tls: TlsMaterial,
  cfg: ServerConfig,
  logger: Logger,
): Promise<RunningServer> {
  const server = https.createServer(
    {
      cert: tls.cert,
      key: tls.key,
      minVersion: 'TLSv1.2',
      handshakeTimeout: cfg.handshakeTimeoutMs,
      requestTimeout: cfg.requestTimeoutMs,
      headersTimeout: cfg.headersTimeoutMs,
      keepAliveTimeout: cfg.keepAliveTimeoutMs,
      // Node checks request/headers timeouts on this interval (default 30 s, too coarse to matter).
      connectionsCheckingInterval: Math.min(1000, cfg.headersTimeoutMs),
    },
    app,
  );
  server.on('tlsClientError', (err) => logger.debug({ reason: err.message }, 'TLS handshake failed'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    setTls: (m) => server.setSecureContext({ cert: m.cert, key: m.key, minVersion: 'TLSv1.2' }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
