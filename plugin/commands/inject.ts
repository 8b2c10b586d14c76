/**
 * `kubectl iochaos delay|fault|attr|mistake|bandwidth|diskfull TARGET --path P [rule flags]`.
 * Complete (defaults from flags), Validate (refuse bad input with a message), Run — as kubectl does.
 */
import { createHash } from 'node:crypto';
import type { ControlRequest, Target } from '../../sidecar/api/control';
import type { RuleInput } from '../../sidecar/api/fault-spec';
import { exitCodeFor, usageError, UserError } from '../errors';
import { parseOutput, printStructured, structured, type OutputFormat } from '../output';
import { plan, reach, type Exchange, type Planned, type Reached, type ReachOptions } from '../reach';
import { checkRequest, flagOf, type FieldNamer } from '../request-check';
import { ruleFromFlags, type FaultCommand } from '../rule-flags';
import { describeTarget, parseTarget, type TargetRef } from '../target';

/** kubectl's --dry-run: none (do it), client (validate and print), server (the daemon validates too). */
export type DryRun = 'none' | 'client' | 'server';

export function parseDryRun(v: unknown): DryRun {
  if (v === undefined) return 'none';
  if (v === 'none' || v === 'client' || v === 'server') return v;
  throw usageError(
    v === '' || v === true
      ? '--dry-run needs a value, as in kubectl: --dry-run=client or --dry-run=server'
      : `--dry-run=${String(v)}: must be none, client or server`,
    'client: check and print the request, send nothing; server: also have the daemon check it against the target, changing nothing',
  );
}

export interface InjectOptions {
  target: TargetRef;
  volumePath: string;
  rule: RuleInput;
  output: OutputFormat;
  dryRun: DryRun;
  allInNamespace: boolean;
}

/**
 * A rule's id when none is named: a digest of what the rule does, so that the same rule given twice
 * replaces itself instead of stacking (two identical delays would add up).
 */
export function defaultRuleId(prefix: string, rule: RuleInput): string {
  return `${prefix}-${createHash('sha256').update(canonicalJson(rule)).digest('hex').slice(0, 8)}`;
}

/** JSON with every object's keys sorted, at every depth: the same rule always reads the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function completeInject(cmd: FaultCommand, argv: Record<string, unknown>): InjectOptions {
  const rule = ruleFromFlags(cmd, argv);
  return {
    target: parseTarget(argv.target as string | undefined, argv.selector as string | undefined),
    volumePath: String(argv.path ?? ''),
    rule: { ...rule, id: rule.id ?? defaultRuleId(cmd.name, rule) },
    output: parseOutput(argv.output),
    dryRun: parseDryRun(argv['dry-run']),
    allInNamespace: Boolean(argv['all-in-namespace']),
  };
}

/** Validates the request as the daemon will, and keeps its normalised form (`/data/` is `/data`). */
export function validateInject(o: InjectOptions, cmd: string): void {
  if (!o.volumePath)
    throw usageError(
      '--path is required: the volume path in the target, e.g. --path /data',
      `see: kubectl iochaos ${cmd} --help`,
    );
  const placeholder: Target =
    o.target.kind === 'pid' ? { pid: o.target.pid } : { containerId: 'placeholder' };
  const checked = checkRequest(injectRequest(o, [o.rule])(placeholder), flagOf);
  if (checked.op === 'inject') o.volumePath = checked.volumePath;
}

/** What each kind of rule does, in a few words, for the one-line result. */
const DESCRIBE: { [A in RuleInput['action']]: (r: Extract<RuleInput, { action: A }>) => string } = {
  latency: (r) => `delay ${r.delay}${r.jitter ? `±${r.jitter}` : ''}`,
  fault: (r) => `errno ${r.errno ?? r.faults!.map((f) => `${f.errno}:${f.weight}`).join(',')}`,
  attrOverride: (r) => `attributes ${JSON.stringify(r.attr)}`,
  mistake: (r) => `corruption ${JSON.stringify(r.mistake)}`,
  bandwidth: (r) => `bandwidth ${r.rate}/s`,
  diskFull: (r) => `disk full after ${r.limit}`,
};

export function summary(rule: RuleInput): string {
  const what = (DESCRIBE[rule.action] as (r: RuleInput) => string)(rule);
  const on = [
    rule.percent !== undefined ? `${rule.percent}% of` : 'all',
    rule.methods ? rule.methods.join(',') : 'calls',
    rule.path ? `on ${rule.path}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return `${what} (${on})`;
}

type InjectShape = Pick<InjectOptions, 'volumePath'> & { allInNamespace?: boolean; dryRun?: DryRun };

/** The inject request for one target: what is sent, and what --dry-run=client prints. */
export function injectRequest(o: InjectShape, rules: RuleInput[]) {
  return (target: Target | undefined): ControlRequest => ({
    op: 'inject',
    target: target!,
    volumePath: o.volumePath,
    rules,
    ...(o.allInNamespace ? { allInNamespace: true } : {}),
    ...(o.dryRun === 'server' ? { dryRun: true } : {}),
  });
}

/** What an inject or update reply says about the injection: how many processes, which rule replaced. */
interface InjectReply {
  pids?: number[];
  injections?: { pids: number[] }[];
  replaced?: string[];
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 'es'}`;

/** The one-line result of an injection at one place: what, where, which rule, how many processes. */
export function injectedLine(
  o: Pick<InjectOptions, 'volumePath' | 'rule'> & InjectShape,
  r: Reached,
): string {
  const result = (r.reply.ok ? r.reply.result : {}) as InjectReply;
  const pids = result.pids ?? result.injections?.[0]?.pids ?? [];
  const replaced = result.replaced?.includes(o.rule.id!) ?? false;
  const verb =
    o.dryRun === 'server' ? 'would inject' : r.added ? (replaced ? 'replaced' : 'added') : 'injected';
  const where = `at ${o.volumePath} (rule ${o.rule.id}, ${plural(pids.length, 'process')})`;
  if (o.dryRun === 'server') return `${verb} ${summary(o.rule)} ${where}; server dry run: nothing changed`;
  // A new injection's only rule ends it; an added rule ends on its own.
  const until = o.rule.duration
    ? `, ${r.added ? 'ends' : 'recovers'} in ${o.rule.duration}`
    : `; undo with: kubectl iochaos recover ${followUp(r)}`;
  return `${verb} ${summary(o.rule)} ${where}${until}`;
}

/** Inject, or when the path is already injected, add the rule to that injection. */
export function injectExchange(o: InjectShape, rules: RuleInput[]): Exchange<unknown> {
  const request = injectRequest(o, rules);
  return async (target, call) => {
    const reply = await call(request(target));
    if (reply.ok || reply.error.code !== 'Conflict') return { reply };
    return {
      reply: await call({
        op: 'update',
        target: target!,
        volumePath: o.volumePath,
        rules,
        replace: false,
        ...(o.dryRun === 'server' ? { dryRun: true } : {}),
      }),
      added: true,
    };
  };
}

/** `-n NS` for pods, so that a printed follow-up command works as it is. */
export const followUp = (r: Reached) =>
  `${r.name}${r.namespace ? ` -n ${r.namespace}` : ''}${r.container ? ` -c ${r.container}` : ''}`;

/** A reply's error as a person reads it: a field of the request is named as the flag it came from. */
export function errorText(r: Reached, name: FieldNamer = flagOf): string {
  if (r.reply.ok) return '';
  const { message, field } = r.reply.error;
  const head = field
    ? `${name(
        field
          .split(/[.[\]]+/)
          .filter(Boolean)
          .map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
      )}: `
    : '';
  return `${head}${message}${r.hint ? `\n  ${r.hint}` : ''}`;
}

/** One line per place: what happened, or the error and what to do next. */
export function printResults(results: Reached[], ok: (r: Reached) => string, name?: FieldNamer): void {
  for (const r of results) {
    if (r.reply.ok) process.stdout.write(`${r.name}${r.container ? ` (${r.container})` : ''}: ${ok(r)}\n`);
    else process.stderr.write(`${r.name}: error: ${errorText(r, name)}\n`);
  }
}

export function printPlan(planned: Planned[], output: OutputFormat): void {
  printStructured(
    planned.map((p) => ({
      target: p.name,
      ...(p.namespace ? { namespace: p.namespace } : {}),
      ...(p.container ? { container: p.container } : {}),
      request: p.request,
    })),
    output === 'yaml' || output?.startsWith('jsonpath=') ? (output as 'yaml') : 'json',
  );
}

export function printStructuredResults(
  results: Reached[],
  output: 'json' | 'yaml' | `jsonpath=${string}`,
): void {
  printStructured(
    results.map((r) => ({
      target: r.name,
      ...(r.namespace ? { namespace: r.namespace } : {}),
      ...(r.container ? { container: r.container } : {}),
      ...r.reply,
      ...(r.hint ? { hint: r.hint } : {}),
    })),
    output,
  );
}

/** -o name: one `injection/ID` line per place that answered with one. */
export function printNames(results: Reached[]): void {
  for (const r of results) {
    if (!r.reply.ok) continue;
    const res = r.reply.result as {
      id?: string;
      injections?: { id: string }[];
      recovered?: { id: string }[];
    };
    const ids = res.id ? [res.id] : (res.injections ?? res.recovered ?? []).map((i) => i.id);
    for (const id of ids) process.stdout.write(`injection/${id}\n`);
  }
}

/** Prints the results in the format asked for; returns the exit code. */
export function report(results: Reached[], output: OutputFormat, ok: (r: Reached) => string): number {
  if (structured(output)) printStructuredResults(results, output);
  else if (output === 'name') {
    printNames(results);
    printResults(
      results.filter((r) => !r.reply.ok),
      () => '',
    );
  } else printResults(results, ok);
  return exitCodeFor(results.map((r) => r.reply));
}

export async function runInject(o: InjectOptions, reachOpts: ReachOptions): Promise<number> {
  if (o.dryRun === 'client') {
    printPlan(await plan(o.target, injectRequest(o, [o.rule]), reachOpts), o.output);
    return 0;
  }
  const results = await reach(o.target, injectExchange(o, [o.rule]), reachOpts);
  if (results.length === 0) throw new UserError(`no pods found for ${describeTarget(o.target)}`);
  return report(results, o.output, (r) => injectedLine(o, r));
}
