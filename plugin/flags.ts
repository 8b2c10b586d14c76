/**
 * Every command's flags as data: cli.ts declares them to yargs, completion.ts offers them. The fault
 * commands' rule flags are in rule-flags.ts.
 */
import type { Options } from 'yargs';
import { OUTPUT_HELP } from './output';
import { COMMON_FLAGS, FAULT_COMMANDS } from './rule-flags';
import type { CommandFlags } from './completion';

export type FlagSet = Record<string, Options>;

export const KUBE_FLAGS: FlagSet = {
  namespace: { alias: 'n', type: 'string', describe: "namespace of the target (default: the context's)" },
  context: { type: 'string', describe: 'kubeconfig context to use' },
  kubeconfig: { type: 'string', describe: 'path to the kubeconfig file' },
  container: { alias: 'c', type: 'string', describe: 'target container (default: the only app container)' },
  selector: { alias: 'l', type: 'string', describe: 'target every pod matching this label selector' },
  output: { alias: 'o', type: 'string', describe: OUTPUT_HELP },
};

/** `metrics` prints Prometheus text only: no -o. */
export const METRICS_FLAGS: FlagSet = Object.fromEntries(
  Object.entries(KUBE_FLAGS).filter(([name]) => name !== 'output'),
);

export const DRY_RUN_FLAG: FlagSet = {
  'dry-run': {
    type: 'string',
    describe:
      'as kubectl: none (default), client (check and print the request, send nothing) or server (the daemon checks it against the target too, and changes nothing); write --dry-run=client',
  },
};

export const RECOVER_FLAGS: FlagSet = {
  ...DRY_RUN_FLAG,
  path: { type: 'string', describe: "only this volume path (default: all of the target's)" },
};

export const APPLY_FLAGS: FlagSet = {
  ...DRY_RUN_FLAG,
  filename: {
    alias: 'f',
    type: 'string',
    describe: 'the IOChaos manifest (YAML, several documents allowed; - for stdin)',
  },
};

export const STATUS_FLAGS: FlagSet = {
  'all-namespaces': {
    alias: 'A',
    type: 'boolean',
    describe: 'every injected pod of every namespace (without TARGET; -n NS alone: that namespace)',
  },
};

/** `--name` and `-n` of each option, as a shell offers them. */
function names(set: FlagSet): string[] {
  return Object.entries(set).flatMap(([name, o]) => [
    `--${name}`,
    ...[o.alias ?? []].flat().map((a) => (a.length === 1 ? `-${a}` : `--${a}`)),
  ]);
}

export function commandTable(): CommandFlags[] {
  return [
    ...FAULT_COMMANDS.map((c) => ({
      name: c.name,
      flags: names({ ...KUBE_FLAGS, ...COMMON_FLAGS, ...c.flags, ...DRY_RUN_FLAG }),
    })),
    { name: 'apply', flags: names({ ...KUBE_FLAGS, ...APPLY_FLAGS }) },
    { name: 'recover', flags: names({ ...KUBE_FLAGS, ...RECOVER_FLAGS }) },
    { name: 'status', flags: names({ ...KUBE_FLAGS, ...STATUS_FLAGS }) },
    { name: 'metrics', flags: names(METRICS_FLAGS) },
    { name: 'completion', flags: [] },
  ];
}
