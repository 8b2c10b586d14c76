#!/usr/bin/env node
/**
 * `iochaos-webhook`: the mutating admission webhook that gives opted-in pods the chaosfs sidecar.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_CLUSTER, DEFAULT_SIDECAR_IMAGE } from './config';
import { complete, type Flags, UsageError, validate } from './options';

async function main(argv: string[]): Promise<void> {
  const parsed = await yargs(argv)
    .scriptName('iochaos-webhook')
    .usage(
      [
        'Mutating admission webhook: pods labelled (or annotated) iochaos.dev/inject: "true" get the chaosfs sidecar.',
        '',
        'Examples:',
        '  # In the cluster (manifests/): certificates live in a Secret, the CA goes into the caBundle',
        '  iochaos-webhook --port 8443',
        '',
        '  # On a workstation: certificates made in memory, CA written out for curl --cacert',
        '  iochaos-webhook --port 8443 --self-signed --write-ca /tmp/iochaos-ca.crt',
        '',
        '  # With certificates from elsewhere (a mounted kubernetes.io/tls Secret, cert-manager)',
        '  iochaos-webhook --port 8443 --cert-dir /etc/iochaos/tls',
        '',
        '  # Only these namespaces, with a pinned sidecar image',
        '  iochaos-webhook --namespaces staging,chaos --sidecar-image registry.local/chaosfs:0.1.0',
        '',
        'Usage:',
        '  iochaos-webhook [flags]',
      ].join('\n'),
    )
    .options({
      port: { type: 'number', describe: 'HTTPS port to listen on (0 picks a free one)', default: 8443 },
      host: { type: 'string', describe: 'Address to listen on', default: '0.0.0.0' },
      'self-signed': {
        type: 'boolean',
        describe: 'Make a CA and serving certificate in memory; skip the caBundle',
      },
      'write-ca': {
        type: 'string',
        describe: 'With --self-signed: write the CA certificate (PEM) to this file',
      },
      'cert-dir': {
        type: 'string',
        describe: 'Read tls.crt and tls.key from this directory; skip the caBundle',
      },
      kubeconfig: {
        type: 'string',
        describe: 'Kubeconfig for the Secret mode (default: in-cluster, or $KUBECONFIG)',
      },
      namespace: {
        type: 'string',
        describe: `The webhook's own namespace [default: $POD_NAMESPACE or ${DEFAULT_CLUSTER.namespace}]`,
      },
      'service-name': {
        type: 'string',
        describe: 'Service in front of the webhook (for the certificate DNS names)',
        default: DEFAULT_CLUSTER.serviceName,
      },
      'secret-name': {
        type: 'string',
        describe: 'Secret holding the CA and serving certificate',
        default: DEFAULT_CLUSTER.secretName,
      },
      'webhook-config-name': {
        type: 'string',
        describe: 'MutatingWebhookConfiguration whose caBundle to write',
        default: DEFAULT_CLUSTER.webhookConfigName,
      },
      'sidecar-image': {
        type: 'string',
        describe: `chaosfs sidecar image [default: $IOCHAOS_SIDECAR_IMAGE or ${DEFAULT_SIDECAR_IMAGE}]`,
      },
      'sidecar-pull-policy': {
        type: 'string',
        describe: 'imagePullPolicy of the sidecar',
        default: 'IfNotPresent',
      },
      'sidecar-profile': {
        type: 'string',
        describe:
          'privileged, or capabilities (exactly the capabilities it uses plus /dev/fuse; see webhook/README.md)',
        default: 'privileged',
      },
      namespaces: {
        type: 'string',
        array: true,
        describe: 'Only inject in these namespaces (comma-separated; default all)',
      },
      'exclude-namespaces': {
        type: 'string',
        array: true,
        describe: 'Never inject in these (the own namespace is always added)',
        default: ['kube-system'],
      },
      'body-limit': { type: 'string', describe: 'Largest AdmissionReview accepted', default: '3Mi' },
      'request-timeout': {
        type: 'string',
        describe: 'Cut off a client that has not sent its request by then',
        default: '10s',
      },
      resync: {
        type: 'string',
        describe: 'How often to re-check the Secret, the caBundle or --cert-dir',
        default: '10m',
      },
      'shutdown-delay': {
        type: 'string',
        describe: 'After SIGTERM, report not-ready this long before closing',
        default: '5s',
      },
      'log-level': {
        type: 'string',
        describe: 'fatal, error, warn, info, debug, trace or silent',
        default: 'info',
      },
    })
    .strict()
    .version(false)
    .help()
    .wrap(Math.min(120, process.stdout.columns ?? 120))
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    })
    .parseAsync();

  // A repeated single-value flag means the last one, as in kubectl (yargs would hand over an array).
  const lists = new Set(['namespaces', 'excludeNamespaces', 'exclude-namespaces', '_']);
  for (const [k, v] of Object.entries(parsed)) {
    if (Array.isArray(v) && !lists.has(k)) (parsed as Record<string, unknown>)[k] = v[v.length - 1];
  }
  const flags = parsed as unknown as Flags;
  const opts = complete(flags);
  validate(opts, flags);
  // Loaded after the flags are checked: --help and usage errors stay fast.
  const { run } = await import('./run.js');
  // The handlers are in place before the server listens: a SIGTERM that comes as soon as it says
  // "listening" (a fast rollout, a test) must get the graceful shutdown, not the default exit.
  let signalled: string | undefined;
  let stopping = false;
  const started: { running?: Awaited<ReturnType<typeof run>> } = {};
  const shutdown = () => {
    const r = started.running;
    if (stopping || !r || !signalled) return;
    stopping = true;
    r.logger.info({ signal: signalled }, 'shutting down');
    r.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        r.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: string) => {
    signalled ??= signal;
    shutdown();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  started.running = await run(opts);
  shutdown();
}

main(hideBin(process.argv)).catch((err: unknown) => {
  const usage = err instanceof UsageError;
  process.stderr.write(`error: ${(err as Error).message ?? String(err)}\n`);
  if (usage) process.stderr.write("See 'iochaos-webhook --help' for usage.\n");
  process.exit(usage ? 2 : 1);
});
