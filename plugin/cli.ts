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
import { completeMetrics, runMetrics } from './commands/metrics';
import { cobraOutput, complete, script } from './completion';
import { EXIT, exitCodeOf, formatError } from './errors';
import {
  APPLY_FLAGS,
  commandTable,
  DRY_RUN_FLAG,
  KUBE_FLAGS,
  METRICS_FLAGS,
  RECOVER_FLAGS,
  STATUS_FLAGS,
  type FlagSet,
} from './flags';
import type { KubePodReach } from './kube/reach-pods';
import type { PodReach, ReachOptions } from './reach';
import { COMMON_FLAGS, FAULT_COMMANDS } from './rule-flags';

const say = (line: string) => process.stderr.write(line + '\n');

function withFlags<T>(y: Argv<T>, ...sets: FlagSet[]): Argv<T> {
  let out = y;
  for (const set of sets) for (const [name, opt] of Object.entries(set)) out = out.option(name, opt);
  return out;
}

/**
 * yargs prints examples after the options; a person looks for them first. So they go into the usage
 * text, before everything else.
 */
function usage(line: string, what: string, examples: [string, string][]): string {
  // kubectl's own layout: a comment line, then the command.
  const lines = examples.map(([ex, why]) => `  # ${why}\n  ${ex}`);
  return `${line}\n\n${what}\n\nExamples:\n${lines.join('\n\n')}`;
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
    injected: (all, exchange) => pods().injected(all, exchange),
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
    process.exitCode = exitCodeOf(err);
  }
}

const args = hideBin(process.argv);
const commandName = args.find((a) => !a.startsWith('-'));

const EXIT_CODES =
  `Exit codes: ${EXIT.ok} done; ${EXIT.failed} failed; ${EXIT.usage} bad command line or input (nothing sent); ` +
  `${EXIT.notFound} target not found; ${EXIT.partial} some targets done, others failed.`;

let cli = yargs(args)
  .scriptName('kubectl iochaos')
  .usage(
    usage(
      '$0 <command> TARGET [options]',
      'Inject file-system faults into a running app, without restarting it, and recover.\n' +
        'TARGET: pid/N (a local process, as root), pod/NAME, deployment/NAME, statefulset/NAME, or -l SELECTOR.',
      [
        ['$0 delay pod/web-0 --path /data --delay 10ms --percent 50', 'half the calls on /data wait 10 ms'],
        ['$0 fault pid/1234 --path /data --errno EIO --methods write --percent 10', '10% of writes fail'],
        [
          '$0 delay deployment/web -n shop --path /data --delay 100ms --methods read',
          'every pod of a deployment',
        ],
        ['$0 apply -f io-latency.yaml', 'run a Chaos Mesh IOChaos experiment'],
        ['$0 status -A', 'every injection in every injected pod'],
        ['$0 metrics pod/web-0', "the sidecar's counters, as Prometheus text"],
        ['$0 recover pod/web-0', 'put everything back'],
      ],
    ),
  )
  .epilogue(EXIT_CODES);

for (const cmd of FAULT_COMMANDS) {
  cli = cli.command(
    `${cmd.name} [target]`,
    cmd.describe,
    (y) =>
      withFlags(y, KUBE_FLAGS, COMMON_FLAGS, cmd.flags, DRY_RUN_FLAG)
        .positional('target', { type: 'string', describe: 'pid/N, pod/NAME, deployment/NAME, ...' })
        .usage(usage(`$0 ${cmd.name} TARGET --path PATH [options]`, cmd.describe, cmd.examples)),
    (argv) =>
      run(async () => {
        const o = completeInject(cmd, argv);
        validateInject(o, cmd.name);
        return runInject(o, reachOptions(argv));
      }),
  );
}

void cli
  .command(
    'recover [target]',
    'Undo the injection: rules off, fds back, unmount, mount table checked',
    (y) =>
      withFlags(y, KUBE_FLAGS, RECOVER_FLAGS)
        .positional('target', { type: 'string' })
        .usage(
          usage(
            '$0 recover TARGET [--path PATH]',
            'Undo the injection: rules off, fds back, unmount, mount table checked',
            [
              ['$0 recover pid/1234', 'recover every volume of the process'],
              ['$0 recover pod/web-0 --path /data', 'recover one volume'],
            ],
          ),
        ),
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
      withFlags(y, KUBE_FLAGS, APPLY_FLAGS).usage(
        usage(
          '$0 apply -f FILE [options]',
          'Run a Chaos Mesh IOChaos manifest on the pods its selector picks (-l narrows them, -c picks a container).\n' +
            "Applying it again replaces its rule (the rule's id is the IOChaos' namespace/name).",
          [
            ['$0 apply -f io-latency.yaml', "inject on the pods that the IOChaos's selector and mode pick"],
            ['$0 apply -f io-fault.yaml --dry-run=client -o yaml', 'show the requests per pod'],
            ['$0 apply -f io-fault.yaml --dry-run=server', 'have each sidecar check the request'],
          ],
        ),
      ),
    (argv) =>
      run(() => {
        const apply = require('./commands/apply') as typeof import('./commands/apply');
        return apply.runApply(apply.completeApply(argv), podReach(argv));
      }),
  )
  .command(
    'status [target]',
    'List injections with their rules, counters and time left',
    (y) =>
      withFlags(y, KUBE_FLAGS, STATUS_FLAGS)
        .positional('target', { type: 'string' })
        .usage(
          usage(
            '$0 status [TARGET | -A | -n NS] [-o FORMAT]',
            'List injections with their rules, counters and time left',
            [
              ['$0 status -A', 'every injected pod of every namespace'],
              ['$0 status -n shop', 'every injected pod of namespace shop'],
              ['$0 status pod/web-0 -n shop', 'what the sidecar of one pod holds'],
              ['$0 status', 'every injection of the local daemon'],
              ["$0 status -A -o jsonpath='{.items[*].target}'", 'the injected pods, for a script'],
            ],
          ),
        ),
    (argv) => run(() => runStatus(completeStatus(argv), reachOptions(argv))),
  )
  .command(
    'metrics [target]',
    'Print the counters of the injections as Prometheus text (calls per method, matched and faulted per rule)',
    (y) =>
      withFlags(y, METRICS_FLAGS)
        .positional('target', { type: 'string' })
        .usage(
          usage(
            '$0 metrics [TARGET]',
            'Print the counters of the injections as Prometheus text exposition, as the daemon writes it.\n' +
              'No network port: the text comes over the control socket (pods/exec for a pod). Without TARGET: the local daemon.',
            [
              ['$0 metrics pod/web-0 -n shop', "the counters of one pod's sidecar"],
              ['$0 metrics pid/1234', 'the counters of a local injection'],
              [
                '$0 metrics pod/web-0 > /var/lib/node_exporter/textfile/iochaos.prom',
                "for node_exporter's textfile collector",
              ],
            ],
          ),
        ),
    (argv) => run(() => runMetrics(completeMetrics(argv), reachOptions(argv))),
  )
  .command(
    'completion <shell>',
    'Print a shell completion script (bash or zsh) for kubectl-iochaos',
    (y) =>
      y
        .positional('shell', { type: 'string', choices: ['bash', 'zsh'] })
        .usage(
          usage(
            '$0 completion bash|zsh',
            'Print a completion script for kubectl-iochaos. For `kubectl iochaos <TAB>`, put kubectl_complete-iochaos (installed with the plugin) on PATH: kubectl runs it.',
            [['source <(kubectl-iochaos completion bash)', 'in ~/.bashrc']],
          ),
        ),
    (argv) => run(async () => (process.stdout.write(script(String(argv.shell))), 0)),
  )
  .command(
    '__complete',
    false,
    (y) => y.strict(false),
    () => {
      const words = args.slice(1);
      process.stdout.write(cobraOutput(complete(commandTable(), words.slice(0, -1), words.at(-1) ?? '')));
    },
  )
  .demandCommand(
    1,
    'name a command: delay, fault, attr, mistake, bandwidth, diskfull, apply, recover, status, metrics or completion',
  )
  .strict()
  .fail((message, err) => {
    if (err) throw err;
    // One line that says what is missing and where the rest is, not the whole help page.
    const known = commandTable().some((c) => c.name === commandName);
    const help = `kubectl iochaos${known ? ` ${commandName}` : ''} --help`;
    const text = message.replace(
      /^Missing required argument: (.*)$/,
      (_, f: string) => `missing required flag --${f}`,
    );
    process.stderr.write(`error: ${text.charAt(0).toLowerCase()}${text.slice(1)}\n  see: ${help}\n`);
    process.exit(EXIT.usage);
  })
  .help()
  .alias('h', 'help')
  .wrap(Math.min(120, process.stdout.columns ?? 100))
  .parseAsync();
