/** Wires the parts together for one running webhook; cli.ts adds flags and signals around it. */
import * as fs from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { DestinationStream } from 'pino';
import { serviceDnsNames } from './config';
import { createLogger, type Logger } from './log';
import type { NamespaceLookup } from './namespaces';
import { createMetrics, type WebhookMetrics } from './metrics';
import type { Options } from './options';
import { createApp, type RunningServer, serve } from './server';
import { certDir, selfSigned, type TlsSource } from './tls-source';

export interface Running {
  port: number;
  /** The CA clients should trust, when this process made it (--self-signed). */
  ca?: string;
  logger: Logger;
  metrics: WebhookMetrics;
  server: RunningServer;
  /** Fail /readyz, wait `shutdownDelayMs`, stop accepting, let in-flight requests finish. */
  stop(): Promise<void>;
}

async function tlsSource(o: Options, logger: Logger, kc: KubeConfig | undefined): Promise<TlsSource> {
  const names = serviceDnsNames(o.cluster);
  switch (o.tls.kind) {
    case 'self-signed':
      return selfSigned(['localhost', '127.0.0.1', '::1', ...names], logger);
    case 'cert-dir':
      return certDir(o.tls.dir, logger);
    case 'secret': {
      const { clusterSecret } = await import('./cluster-tls.js');
      return clusterSecret(kc!, o.cluster, names, logger);
    }
  }
}

export async function run(o: Options, logDestination?: DestinationStream): Promise<Running> {
  const logger = createLogger(o.logLevel, logDestination);
  const metrics = createMetrics();
  let ready = false;
  // Only the Secret mode talks to the API; the other two run without it (and read no namespace labels).
  let kc: KubeConfig | undefined;
  let namespaceLookup: NamespaceLookup | undefined;
  if (o.tls.kind === 'secret') {
    const cluster = await import('./cluster-tls.js');
    kc = cluster.loadKubeConfig(o.tls.kubeconfig);
    namespaceLookup = cluster.namespaceLookup(kc);
  }
  const app = createApp({
    injection: o.injection,
    logger,
    metrics,
    bodyLimitBytes: o.server.bodyLimitBytes,
    ready: () => ready,
    namespaceLookup,
  });
  const source = await tlsSource(o, logger, kc);
  const first = await source.initial();
  if (o.tls.kind === 'self-signed' && o.tls.writeCa !== undefined && first.ca !== undefined) {
    await fs.writeFile(o.tls.writeCa, first.ca);
  }
  const server = await serve(app, first, o.server, logger);
  ready = true;
  logger.info(
    {
      port: server.port,
      tls: o.tls.kind,
      sidecarImage: o.injection.sidecarImage,
      exclude: o.injection.excludeNamespaces,
    },
    'listening',
  );

  let refreshing = false;
  const interval =
    o.tls.kind === 'self-signed'
      ? undefined
      : setInterval(
          () => {
            if (refreshing) return;
            refreshing = true;
            source
              .refresh()
              .then((m) => {
                if (m === undefined) return;
                server.setTls(m);
                logger.info('serving the renewed certificate to new connections');
              })
              // Keep serving the current certificate; the next round retries.
              .catch((err: unknown) => logger.error({ err }, 'certificate refresh failed'))
              .finally(() => (refreshing = false));
          },
          o.tls.kind === 'cert-dir' ? Math.min(o.cluster.resyncMs, 60_000) : o.cluster.resyncMs,
        );
  interval?.unref();

  return {
    port: server.port,
    ca: first.ca,
    logger,
    metrics,
    server,
    stop: async () => {
      ready = false;
      clearInterval(interval);
      await new Promise((r) => setTimeout(r, o.shutdownDelayMs));
      await server.close();
      logger.info('stopped');
      logger.flush();
    },
  };
}
