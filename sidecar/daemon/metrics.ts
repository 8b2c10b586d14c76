/**
 * The daemon's counters as Prometheus text exposition, for the `metrics` control op: no network port
 * in the sidecar, the text is read over the control socket (`kubectl iochaos metrics`, or pods/exec).
 *
 * Built afresh from status on each request (a registry of its own, never the process-wide one): the
 * counters live in the workers, and status is what reads them, so both always agree.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Target } from '../api/control';
import type { InjectionStatus } from './daemon';

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** How the metrics name a target: `pid/1234`, or the container's name (its id when it has none). */
export function targetLabel(target: Target): string {
  return 'pid' in target ? `pid/${target.pid}` : (target.containerName ?? target.containerId);
}

export async function metricsText(injections: readonly InjectionStatus[]): Promise<string> {
  const registry = new Registry();
  const registers = [registry];
  const injectionLabels = ['injection', 'volume', 'target'] as const;
  const gauge = new Gauge({
    name: 'iochaos_injections',
    help: 'Injections this daemon holds, by state (active, recovering, recover-incomplete, ...)',
    labelNames: ['state'],
    registers,
  });
  const calls = new Counter({
    name: 'iochaos_calls_total',
    help: 'Calls the app made on the injected volume since the injection, per method (ChaosFS op)',
    labelNames: [...injectionLabels, 'method'],
    registers,
  });
  const ruleLabels = [...injectionLabels, 'rule', 'action'] as const;
  const matched = new Counter({
    name: 'iochaos_rule_matched_total',
    help: 'Calls whose path and method matched the rule since it was set',
    labelNames: ruleLabels,
    registers,
  });
  const injected = new Counter({
    name: 'iochaos_faults_injected_total',
    help: 'Calls the rule fired on (after percent and times) since it was set',
    labelNames: ruleLabels,
    registers,
  });
  const setAt = new Gauge({
    name: 'iochaos_rule_set_timestamp_seconds',
    help: 'When the rule was set, in seconds since the epoch',
    labelNames: ruleLabels,
    registers,
  });
  const states = new Map<string, number>();
  for (const s of injections) {
    states.set(s.state, (states.get(s.state) ?? 0) + 1);
    const of = { injection: s.id, volume: s.volumePath, target: targetLabel(s.target) };
    for (const [method, n] of Object.entries(s.calls ?? {})) calls.inc({ ...of, method }, n);
    for (const r of s.rules) {
      const labels = { ...of, rule: r.id, action: r.rule.action };
      matched.inc(labels, r.matched);
      injected.inc(labels, r.injected);
      if (r.setAt) setAt.set(labels, Date.parse(r.setAt) / 1000);
    }
  }
  if (states.size === 0) gauge.set({ state: 'active' }, 0);
  for (const [state, n] of states) gauge.set({ state }, n);
  return registry.metrics();
}
