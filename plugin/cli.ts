#!/usr/bin/env node
/**
 * `kubectl-iochaos`: kubectl finds it on PATH and runs it as `kubectl iochaos`. File-system faults for a
 * running app's volume — local processes (pid/N, as root) and Kubernetes pods — and their recovery.
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { completeInject, runInject, validateInject } from './commands/inject';
import { completeRecover, runRecover, validateRecover } from './commands/recover';
import { completeStatus, runStatus } from './commands/status';
import { formatError } from './errors';
import type { KubePodReach } from './kube/reach-pods';
import type { PodReach, ReachOptions } from './reach';
import { COMMON_FLAGS, FAULT_COMMANDS } from './rule-flags';

const say = (line: string) => process.stderr.write(line + '\n');

function kubeFlags<T>(y: Argv<T>) {
  return y
    .option('namespace', {
      alias: 'n',
      type: 'string',
      describe: "namespace of the target (default: the context's)",
    })
    .option('context', { type: 'string', describe: 'kubeconfig context to use' })
    .option('kubeconfig', { type: 'string', describe: 'path to the kubeconfig file' })
    .option('container', {
      alias: 'c',
      type: 'string',
      describe: 'target container (default: the only app container)',
    })
    .option('selector', {
      alias: 'l',
      type: 'string',
      describe: 'target every pod matching this label selector',
    })
    .option('output', {
      alias: 'o',
      type: 'string',
      choices: ['json', 'yaml', 'wide'],
      describe: 'output format',
    });
}

/**
 * @kubernetes/client-node takes about a second to load: only commands that reach pods pay for it, so
 * `kubectl iochaos delay pid/N` starts in a fraction of that.
 */
function podReach(argv: Record<string, unknown>): KubePodReach {
  const kube = require('./kube/reach-pods') as typeof import('./kube/reach-pods');
  return new kube.KubePodReach({
    kubeconfig: argv.kubeconfig as string | undefined,
    context: argv.context as string | undefined,
    namespace: argv.namespace as string | undefined,
    container: argv.container as string | undefined,
  });
}

function lazyPodReach(argv: Record<string, unknown>): PodReach {
  let real: KubePodReach | undefined;
  const pods = () => (real ??= podReach(argv));
  return {
    send: (ref, exchange, scope) => pods().send(ref, exchange, scope),
    plan: (ref, build, scope) => pods().plan(ref, build, scope),
  };
}

function reachOptions(argv: Record<string, unknown>): ReachOptions {
  return { say, pods: lazyPodReach(argv) };
}

async function run(fn: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await fn();
  } catch (err) {
    process.stderr.write(formatError(err) + '\n');
    process.exitCode = 1;
  }
}

let cli = yargs(hideBin(process.argv))
  .scriptName('kubectl iochaos')
  .usage(
    '$0 <command> TARGET [options]\n\n' +
      'Inject file-system faults into a running app, without restarting it, and recover.\n' +
      'TARGET: pid/N (a local process, as root), pod/NAME, deployment/NAME, statefulset/NAME, or -l SELECTOR.',
  )
  .example('$0 delay pod/web-0 --path /data --delay 10ms --percent 50', 'half the calls on /data wait 10 ms')
  .example('$0 fault pid/1234 --path /data --errno EIO --methods write --percent 10', '10% of writes fail')
  .example(
    '$0 delay deployment/web -n shop --path /data --delay 100ms --methods read',
    'every pod of a deployment',
  )
  .example('$0 apply -f io-latency.yaml', 'run a Chaos Mesh IOChaos experiment')
  .example('$0 status pod/web-0', 'what is injected')
  .example('$0 recover pod/web-0', 'put everything back');

for (const cmd of FAULT_COMMANDS) {
  cli = cli.command(
    `${cmd.name} [target]`,
    cmd.describe,
    (y) => {
      let yy = kubeFlags(y).positional('target', {
        type: 'string',
        describe: 'pid/N, pod/NAME, deployment/NAME, ...',
      });
      for (const [name, opt] of Object.entries({ ...COMMON_FLAGS, ...cmd.flags })) yy = yy.option(name, opt);
      yy = yy.option('dry-run', { type: 'boolean', describe: 'print the request instead of sending it' });
      for (const [ex, what] of cmd.examples) yy = yy.example(ex, what);
      return yy;
    },
    (argv) =>
      run(async () => {
        const o = completeInject(cmd, argv);
        validateInject(o);
        return runInject(o, reachOptions(argv));
      }),
  );
}

void cli
  .command(
    'recover [target]',
    'Undo the injection: rules off, fds back, unmount, mount table checked',
    (y) =>
      kubeFlags(y)
        .positional('target', { type: 'string' })
        .option('path', { type: 'string', describe: "only this volume path (default: all of the target's)" })
        .example('$0 recover pid/1234', 'recover every volume of the process')
        .example('$0 recover pod/web-0 --path /data', 'recover one volume'),
    (argv) =>
      run(async () => {
        const o = completeRecover(argv);
        validateRecover(o);
        return runRecover(o, reachOptions(argv));
      }),
  )
  .command(
    'apply',
    'Run a Chaos Mesh IOChaos manifest (chaos-mesh.org/v1alpha1) on the pods its selector picks',
    (y) =>
      kubeFlags(y)
        .option('filename', {
          alias: 'f',
          type: 'string',
          describe: 'the IOChaos manifest (YAML, several documents allowed; - for stdin)',
        })
        .option('dry-run', { type: 'boolean', describe: 'print the requests instead of sending them' })
        .example(
          '$0 apply -f io-latency.yaml',
          "inject on the pods that the IOChaos's selector and mode pick",
        )
        .example('$0 apply -f io-fault.yaml --dry-run -o yaml', 'show the requests per pod'),
    (argv) =>
      run(() => {
        const apply = require('./commands/apply') as typeof import('./commands/apply');
        return apply.runApply(apply.completeApply(argv), podReach(argv));
      }),
  )
  .command(
    'status [target]',
    'List injections with their rules and counters',
    (y) =>
      kubeFlags(y)
        .positional('target', { type: 'string' })
        .example('$0 status pod/web-0 -n shop', 'what the sidecar of one pod holds')
        .example('$0 status deployment/web', 'every pod of a deployment')
        .example('$0 status', 'every injection of the local daemon')
        .example('$0 status pod/web-0 -o yaml', 'one pod, as YAML'),
    (argv) => run(() => runStatus(completeStatus(argv), reachOptions(argv))),
  )
  .demandCommand(
    1,
    'name a command: delay, fault, attr, mistake, bandwidth, diskfull, apply, recover or status',
  )
  .strict()
  .help()
  .alias('h', 'help')
  .wrap(Math.min(120, process.stdout.columns ?? 100))
  .parseAsync();
