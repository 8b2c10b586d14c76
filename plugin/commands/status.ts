/**
 * `kubectl iochaos status [TARGET] [-A | -n NS]`: what is injected where, with its rules, counters and
 * time left. With a TARGET: that process or those pods. With -A or -n and no TARGET: every pod that
 * carries the chaosfs sidecar, asked in parallel (as `kubectl get iochaos -A` lists experiments).
 * With neither: the local daemon.
 */
import * as fs from 'node:fs';
import type { InjectionStatus } from '../../sidecar/daemon/daemon';
import { errnoName } from '../../sidecar/api/fault-spec';
import { EXIT, exitCodeFor, UserError } from '../errors';
import { age, parseOutput, structured, table, type OutputFormat } from '../output';
import { reach, single, type Reached, type ReachOptions } from '../reach';
import { errorText, printNames, printStructuredResults } from './inject';
import { describeTarget, parseTarget, type TargetRef } from '../target';
import { localDaemonOptions, sendLocal } from '../local-daemon';

export interface StatusOptions {
  /** Absent: the pods of a namespace (or all: -A), or the local daemon. */
  target?: TargetRef;
  scope: 'local' | 'namespace' | 'all';
  output: OutputFormat;
}

export function completeStatus(argv: Record<string, unknown>): StatusOptions {
  const text = argv.target as string | undefined;
  const selector = argv.selector as string | undefined;
  const target = text === undefined && selector === undefined ? undefined : parseTarget(text, selector);
  const all = Boolean(argv['all-namespaces']);
  if (all && target)
    throw new UserError('-A lists every injected pod: give it without a TARGET', undefined, EXIT.usage);
  return {
    target,
    scope: all ? 'all' : argv.namespace !== undefined && !target ? 'namespace' : 'local',
    output: parseOutput(argv.output),
  };
}

/** `latency(300ms)`, with the time the rule has left when it has a duration: `latency(300ms, 29s left)`. */
function ruleText(s: InjectionStatus): string {
  return s.rules
    .map((r) => {
      const rule = r.rule as unknown as Record<string, unknown>;
      const what =
        rule.delay !== undefined
          ? `${String(rule.delay)}ms`
          : rule.errno !== undefined
            ? errnoName(rule.errno as number)
            : String(rule.rate ?? rule.limit ?? '');
      const left = r.expiresAt ? `${age(Date.parse(r.expiresAt) - Date.now())} left` : '';
      const args = [what, left].filter(Boolean).join(', ');
      return `${String(rule.action)}${args ? `(${args})` : ''}`;
    })
    .join(',');
}

/** When each rule was set, as ages: `2m,15s` (`-` for a rule the daemon has no time for). */
function ruleAges(s: InjectionStatus): string {
  return s.rules.map((r) => (r.setAt ? age(Date.now() - Date.parse(r.setAt)) : '-')).join(',');
}

/**
 * The rules that seem to do nothing, each with what to check (the daemon's hint), under the table:
 * `pid/1234 /data rule-1 (set 45s ago): matched no call in its first 30s: ...`.
 */
export function hintLines(results: Reached<Result>[]): string[] {
  const lines: string[] = [];
  for (const r of results) {
    if (!r.reply.ok) continue;
    for (const s of r.reply.result.injections) {
      const who = 'pid' in s.target ? `pid/${s.target.pid}` : r.name;
      for (const rule of s.rules) {
        if (!rule.hint) continue;
        const set = rule.setAt ? ` (set ${age(Date.now() - Date.parse(rule.setAt))} ago)` : '';
        lines.push(`${who} ${s.volumePath} ${rule.id}${set}: ${rule.hint}`);
      }
    }
  }
  return lines;
}

type Result = { injections: InjectionStatus[] };

/** A pid target that names no process is answered here, before any daemon is asked. */
export function refuseMissingProcess(target: TargetRef | undefined): void {
  if (target?.kind === 'pid' && !fs.existsSync(`/proc/${target.pid}`)) {
    throw new UserError(`process ${target.pid} does not exist`, 'list processes with: ps -e', EXIT.notFound);
  }
}

async function ask(o: StatusOptions, reachOpts: ReachOptions): Promise<Reached<Result>[]> {
  const status = single<Result>((target) => (target ? { op: 'status', target } : { op: 'status' }));
  refuseMissingProcess(o.target);
  // A pod's daemon serves that pod only: without -c, everything it holds is the pod's status.
  if (o.target) return reach<Result>(o.target, status, reachOpts, { podWide: true });
  if (o.scope !== 'local') {
    if (!reachOpts.pods) throw new UserError('status -A and -n need a cluster connection');
    return reachOpts.pods.injected(o.scope === 'all', status);
  }
  return [
    { name: 'local', reply: await sendLocal<Result>(localDaemonOptions(reachOpts.say), { op: 'status' }) },
  ];
}

export async function runStatus(o: StatusOptions, reachOpts: ReachOptions): Promise<number> {
  const results = await ask(o, reachOpts);
  const code = exitCodeFor(results.map((r) => r.reply));
  if (structured(o.output)) {
    printStructuredResults(results, o.output);
    return code;
  }
  if (o.output === 'name') {
    printNames(results);
    return code;
  }
  const rows: string[][] = [];
  for (const r of results) {
    if (!r.reply.ok) {
      process.stderr.write(`${r.name}: error: ${errorText(r)}\n`);
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
      if (o.scope === 'all') row.unshift(r.namespace ?? '-');
      if (o.output === 'wide') row.push(ruleAges(s), String(s.pids.length), String(s.swapped ?? '-'));
      rows.push(row);
    }
  }
  if (rows.length === 0) {
    // As kubectl's "No resources found": a message for people, on stderr, so scripts see empty output.
    const where = o.target
      ? ` in ${describeTarget(o.target)}`
      : o.scope === 'all'
        ? ' in any namespace'
        : o.scope === 'namespace'
          ? ` in namespace ${String(results[0]?.namespace ?? '')}`.trimEnd()
          : '';
    process.stderr.write(`No injections found${where}.\n`);
  } else {
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
    if (o.scope === 'all') headers.unshift('NAMESPACE');
    if (o.output === 'wide') headers.push('RULES SET', 'PROCESSES', 'FDS SWAPPED');
    process.stdout.write(table(headers, rows));
    const hints = hintLines(results);
    if (hints.length > 0)
      process.stdout.write(`\nRules with no effect yet:\n${hints.map((h) => `  ${h}\n`).join('')}`);
  }
  return code;
}
