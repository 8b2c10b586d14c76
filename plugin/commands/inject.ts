/**
 * `kubectl iochaos delay|fault|attr|mistake|bandwidth|diskfull TARGET --path P [rule flags]`.
 * Complete (defaults from flags), Validate (refuse bad input with a message), Run — as kubectl does.
 */
import type { ControlRequest, Target } from '../../sidecar/api/control';
import { parseRules, parseDurationMs, type RuleInput } from '../../sidecar/api/fault-spec';
import { UserError } from '../errors';
import { printStructured, type OutputFormat } from '../output';
import { reach, type Reached, type ReachOptions } from '../reach';
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

function summary(rule: RuleInput): string {
  const r = rule as Record<string, unknown>;
  const what =
    r.action === 'latency'
      ? `delay ${r.delay}${r.jitter ? `±${r.jitter}` : ''}`
      : r.action === 'fault'
        ? `errno ${r.errno ?? JSON.stringify(r.faults)}`
        : r.action === 'attrOverride'
          ? `attributes ${JSON.stringify(r.attr)}`
          : r.action === 'mistake'
            ? `corruption ${JSON.stringify(r.mistake)}`
            : r.action === 'bandwidth'
              ? `bandwidth ${r.rate}/s`
              : `disk full after ${r.limit}`;
  const on = [
    r.percent !== undefined ? `${r.percent}% of` : 'all',
    r.methods ? (r.methods as string[]).join(',') : 'calls',
    r.path ? `on ${r.path}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return `${what} (${on})`;
}

export async function runInject(o: InjectOptions, reachOpts: ReachOptions): Promise<number> {
  const build = (target: Target): ControlRequest => ({
    op: 'inject',
    target,
    volumePath: o.volumePath,
    rules: [o.rule],
    duration: o.duration,
  });
  if (o.dryRun) {
    printStructured(
      build(o.target.kind === 'pid' ? { pid: o.target.pid } : { containerId: '<resolved per pod>' }),
      o.output === 'yaml' ? 'yaml' : 'json',
    );
    return 0;
  }
  const results: Reached[] = await reach(o.target, build, reachOpts);
  // Already injected at this path: add the rule to the running injection instead of failing.
  for (const r of results) {
    if (!r.reply.ok && r.reply.error.code === 'Conflict') {
      const retry = await reach(
        o.target,
        (target) => ({ op: 'update', target, volumePath: o.volumePath, rules: [o.rule], replace: false }),
        reachOpts,
      );
      const again = retry.find((x) => x.name === r.name);
      if (again) Object.assign(r, again, { added: true });
    }
  }
  if (o.output === 'json' || o.output === 'yaml') {
    printStructured(
      results.map((r) => ({ target: r.name, ...r.reply })),
      o.output,
    );
  } else {
    for (const r of results) {
      if (r.reply.ok) {
        const added = (r as { added?: boolean }).added;
        const until = o.duration
          ? `, recovers in ${o.duration}`
          : '; undo with: kubectl iochaos recover ' + r.name;
        process.stdout.write(
          `${r.name}: ${added ? 'added' : 'injected'} ${summary(o.rule)} at ${o.volumePath}${until}\n`,
        );
      } else {
        process.stderr.write(`${r.name}: error: ${r.reply.error.message}\n`);
      }
    }
  }
  if (results.length === 0) throw new UserError(`no pods found for ${describeTarget(o.target)}`);
  return results.every((r) => r.reply.ok) ? 0 : 1;
}
