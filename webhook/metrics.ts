/**
 * Prometheus metrics, in a registry per server instance (not prom-client's global one) so tests and
 * the benchmark can run several servers in one process without metric name clashes.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface WebhookMetrics {
  registry: Registry;
  requests: Counter<'code'>;
  injections: Counter;
  skips: Counter<'reason'>;
  errors: Counter<'kind'>;
  latency: Histogram;
}

export function createMetrics(opts: { processMetrics?: boolean } = {}): WebhookMetrics {
  const registry = new Registry();
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'iochaos_webhook_requests_total',
      help: 'Admission requests answered, by HTTP status code.',
      labelNames: ['code'],
      registers: [registry],
    }),
    injections: new Counter({
      name: 'iochaos_webhook_injections_total',
      help: 'Pods given the chaosfs sidecar.',
      registers: [registry],
    }),
    skips: new Counter({
      name: 'iochaos_webhook_skips_total',
      help: 'Pods admitted without a sidecar, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'iochaos_webhook_errors_total',
      help: 'Requests that failed: bad_request (malformed review, 4xx) or internal (admitted unmutated).',
      labelNames: ['kind'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'iochaos_webhook_admission_duration_seconds',
      help: 'Time from the request body being read to the answer being written.',
      // The API server's timeout is seconds, the goal is a p99 under 5 ms: resolve the low end.
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  };
}
