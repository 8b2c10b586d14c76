/**
 * `kubectl iochaos delay|fault|attr|mistake|bandwidth|diskfull TARGET --path P [rule flags]`.
 * Complete (defaults from flags), Validate (refuse bad input with a message), Run — as kubectl does.
 */
import type { ControlRequest, Target } from '../../sidecar/api/control';
import { parseRules, parseDurationMs, type RuleInput } from '../../sidecar/api/fault-spec';
import { UserError } from '../errors';
import { printStructured, type OutputFormat } from '../output';
import { plan, reach, type Exchange, type Planned, type Reached, type ReachOptions } from '../reach';
import { ruleFromFlags, type FaultCommand } from '../rule-flags';
import { describeTarget, parseTarget, type TargetRef } from '../target';

export interface InjectOptions {
  target: TargetRef;
  volumePath: string;
  rule: RuleInput;
  duration?: string;
  output: OutputFormat;
  dryRun: boolean;
}

export function completeInject(cmd: FaultCommand, argv: Record<string, unknown>): InjectOptions {
  return {
    target: parseTarget(argv.target as string | undefined, argv.selector as string | undefined),
    volumePath: String(argv.path ?? ''),
    rule: ruleFromFlags(cmd, argv),
    duration: argv.duration as string | undefined,
    output: argv.output as OutputFormat,
    dryRun: Boolean(argv['dry-run']),
  };
}

export function validateInject(o: InjectOptions): void {
  if (!o.volumePath)
    throw new UserError('--path is required: the volume path in the target, e.g. --path /data');
  if (!o.volumePath.startsWith('/')) throw new UserError(`--path ${o.volumePath}: must be an absolute path`);
  if (o.volumePath === '/')
    throw new UserError('--path /: injecting the root directory is refused; name a volume');
  if (o.duration !== undefined && !(parseDurationMs(o.duration)! > 0)) {
    throw new UserError(`--duration ${o.duration}: not a duration; use e.g. 30s, 5m, 1h`);
  }
  try {
    parseRules([o.rule], 'flags');
  } catch (err) {
    throw new UserError(`invalid rule: ${(err as Error).message.replace(/flags\[0\]\.?/g, '--')}`);
  }
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

/** The inject request for one target: what is sent, and what --dry-run prints. */
export function injectRequest(o: Pick<InjectOptions, 'volumePath' | 'duration'>, rules: RuleInput[]) {
  return (target: Target | undefined): ControlRequest => ({
    op: 'inject',
    target: target!,
    volumePath: o.volumePath,
    rules,
    duration: o.duration,
  });
}

/** The one-line result of an injection at one place; `extra` names where the rule came from. */
export function injectedLine(
  o: Pick<InjectOptions, 'volumePath' | 'duration' | 'rule'>,
  r: Reached,
  extra = '',
): string {
  const until = o.duration
    ? `, recovers in ${o.duration}`
    : `; undo with: kubectl iochaos recover ${followUp(r)}`;
  return `${r.added ? 'added' : 'injected'} ${summary(o.rule)} at ${o.volumePath}${extra}${until}`;
}

/** Inject, or when the path is already injected, add the rule to that injection. */
export function injectExchange(
  o: Pick<InjectOptions, 'volumePath' | 'duration'>,
  rules: RuleInput[],
): Exchange<unknown> {
  const request = injectRequest(o, rules);
  return async (target, call) => {
    const reply = await call(request(target));
    if (reply.ok || reply.error.code !== 'Conflict') return { reply };
    return {
      reply: await call({ op: 'update', target: target!, volumePath: o.volumePath, rules, replace: false }),
      added: true,
    };
  };
}

/** `-n NS` for pods, so that a printed follow-up command works as it is. */
export const followUp = (r: Reached) =>
  `${r.name}${r.namespace ? ` -n ${r.namespace}` : ''}${r.container ? ` -c ${r.container}` : ''}`;

/** One line per place: what happened, or the error and what to do next. */
export function printResults(results: Reached[], ok: (r: Reached) => string): void {
  for (const r of results) {
    if (r.reply.ok) process.stdout.write(`${r.name}${r.container ? ` (${r.container})` : ''}: ${ok(r)}\n`);
    else process.stderr.write(`${r.name}: error: ${r.reply.error.message}${r.hint ? `\n  ${r.hint}` : ''}\n`);
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
    output === 'yaml' ? 'yaml' : 'json',
  );
}

export function printStructuredResults(results: Reached[], output: 'json' | 'yaml'): void {
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

export async function runInject(o: InjectOptions, reachOpts: ReachOptions): Promise<number> {
  if (o.dryRun) {
    printPlan(await plan(o.target, injectRequest(o, [o.rule]), reachOpts), o.output);
    return 0;
  }
  const results = await reach(o.target, injectExchange(o, [o.rule]), reachOpts);
  if (results.length === 0) throw new UserError(`no pods found for ${describeTarget(o.target)}`);
  if (o.output === 'json' || o.output === 'yaml') printStructuredResults(results, o.output);
  else {
    printResults(results, (r) => injectedLine(o, r));
  }
  return results.every((r) => r.reply.ok) ? 0 : 1;
}
