/**
 * `kubectl iochaos metrics [TARGET]`: the daemon's counters as Prometheus text exposition, printed as
 * the daemon wrote it. The sidecar opens no network port: the text comes over the control socket, for
 * a pod through pods/exec (the path status takes), for `pid/N` or no TARGET from the local daemon.
 */
import type { MetricsResult } from '../../sidecar/api/control';
import { exitCodeFor } from '../errors';
import { reach, single, type Reached, type ReachOptions } from '../reach';
import { parseTarget, type TargetRef } from '../target';
import { localDaemonOptions, sendLocal } from '../local-daemon';
import { errorText } from './inject';
import { refuseMissingProcess } from './status';

export interface MetricsOptions {
  /** Absent: the local daemon, all it holds. */
  target?: TargetRef;
}

export function completeMetrics(argv: Record<string, unknown>): MetricsOptions {
  const text = argv.target as string | undefined;
  const selector = argv.selector as string | undefined;
  return { target: text === undefined && selector === undefined ? undefined : parseTarget(text, selector) };
}

async function ask(o: MetricsOptions, reachOpts: ReachOptions): Promise<Reached<MetricsResult>[]> {
  const metrics = single<MetricsResult>((target) => (target ? { op: 'metrics', target } : { op: 'metrics' }));
  if (!o.target) {
    const reply = await sendLocal<MetricsResult>(localDaemonOptions(reachOpts.say), { op: 'metrics' });
    return [{ name: 'local', reply }];
  }
  refuseMissingProcess(o.target);
  // As status: a pod's daemon serves that pod only, so without -c the whole pod is asked.
  return reach<MetricsResult>(o.target, metrics, reachOpts, { podWide: true });
}

export async function runMetrics(o: MetricsOptions, reachOpts: ReachOptions): Promise<number> {
  const results = await ask(o, reachOpts);
  const several = results.length > 1;
  for (const r of results) {
    if (!r.reply.ok) {
      process.stderr.write(`${r.name}: error: ${errorText(r)}\n`);
      continue;
    }
    // Several pods: one exposition each, under a comment naming it (scrape one pod at a time).
    if (several) process.stdout.write(`# ${r.name}${r.namespace ? ` -n ${r.namespace}` : ''}\n`);
    process.stdout.write(r.reply.result.text);
  }
  return exitCodeFor(results.map((r) => r.reply));
}
