/** `kubectl iochaos status [TARGET]`: what is injected where, with its rules and counters. */
import type { InjectionStatus } from '../../sidecar/daemon/daemon';
import { errnoName } from '../../sidecar/api/fault-spec';
import { age, table, type OutputFormat } from '../output';
import { reach, single, type Reached, type ReachOptions } from '../reach';
import { printStructuredResults } from './inject';
import { describeTarget, parseTarget, type TargetRef } from '../target';
import { localDaemonOptions, sendLocal } from '../local-daemon';

export interface StatusOptions {
  /** Absent: every injection of the local daemon. */
  target?: TargetRef;
  output: OutputFormat;
}

export function completeStatus(argv: Record<string, unknown>): StatusOptions {
  const text = argv.target as string | undefined;
  const selector = argv.selector as string | undefined;
  return {
    target: text === undefined && selector === undefined ? undefined : parseTarget(text, selector),
    output: argv.output as OutputFormat,
  };
}

function ruleText(s: InjectionStatus): string {
  return s.rules
    .map((r) => {
      const rule = r.rule as unknown as Record<string, unknown>;
      const what =
        rule.delay !== undefined
          ? `${String(rule.delay)}ms`
          : rule.errno !== undefined
            ? errnoName(rule.errno as number)
            : (rule.rate ?? rule.limit ?? '');
      return `${rule.action}${what !== '' ? `(${String(what)})` : ''}`;
    })
    .join(',');
}

export async function runStatus(o: StatusOptions, reachOpts: ReachOptions): Promise<number> {
  type Result = { injections: InjectionStatus[] };
  const results: Reached<Result>[] = o.target
    ? await reach<Result>(
        o.target,
        // A pod's daemon serves that pod only: without -c, everything it holds is the pod's status.
        single((target) => (target ? { op: 'status', target } : { op: 'status' })),
        reachOpts,
        { podWide: true },
      )
    : [
        {
          name: 'local',
          reply: await sendLocal<Result>(localDaemonOptions(reachOpts.say), { op: 'status' }),
        },
      ];
  if (o.output === 'json' || o.output === 'yaml') {
    printStructuredResults(results, o.output);
    return results.every((r) => r.reply.ok) ? 0 : 1;
  }
  const rows: string[][] = [];
  for (const r of results) {
    if (!r.reply.ok) {
      process.stderr.write(`${r.name}: error: ${r.reply.error.message}${r.hint ? `\n  ${r.hint}` : ''}\n`);
      continue;
    }
    for (const s of r.reply.result.injections) {
      const who = 'pid' in s.target ? `pid/${s.target.pid}` : r.name;
      const container = 'pid' in s.target ? '-' : (s.target.containerName ?? '-');
      const row = [
        s.id,
        who,
        container,
        s.volumePath,
        s.state,
        ruleText(s),
        s.rules.map((x) => `${x.injected}/${x.matched}`).join(','),
        age(Date.now() - Date.parse(s.startedAt)),
        s.endsAt ? age(Date.parse(s.endsAt) - Date.now()) : '-',
      ];
      if (o.output === 'wide') row.push(String(s.pids.length), String(s.swapped ?? '-'));
      rows.push(row);
    }
  }
  if (rows.length === 0)
    // As kubectl's "No resources found": a message for people, on stderr, so scripts see empty output.
    process.stderr.write(`No injections found${o.target ? ` in ${describeTarget(o.target)}` : ''}.\n`);
  else {
    const headers = [
      'ID',
      'TARGET',
      'CONTAINER',
      'PATH',
      'STATE',
      'RULES',
      'FAULTED/MATCHED',
      'AGE',
      'ENDS IN',
    ];
    if (o.output === 'wide') headers.push('PROCESSES', 'FDS SWAPPED');
    process.stdout.write(table(headers, rows));
  }
  return results.every((r) => r.reply.ok) ? 0 : 1;
}
