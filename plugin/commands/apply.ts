/**
 * `kubectl iochaos apply -f iochaos.yaml`: run a Chaos Mesh IOChaos experiment with iochaos, on the
 * pods its selector and mode pick. Nothing is written to the cluster: the experiment lives in the
 * pods' sidecars, and ends with its duration or `kubectl iochaos recover`.
 */
import * as fs from 'node:fs';
import YAML from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { parseRules } from '../../sidecar/api/fault-spec';
import { matchesPlan, pickByMode, translateIOChaos, type IOChaosPlan } from '../chaos-mesh/iochaos';
import { UserError } from '../errors';
import { listPods } from '../kube/pods';
import type { KubePodReach } from '../kube/reach-pods';
import type { OutputFormat } from '../output';
import type { Reached } from '../reach';
import {
  injectExchange,
  injectRequest,
  injectedLine,
  printPlan,
  printResults,
  printStructuredResults,
} from './inject';

export interface ApplyOptions {
  file: string;
  namespace?: string;
  output: OutputFormat;
  dryRun: boolean;
}

export function completeApply(argv: Record<string, unknown>): ApplyOptions {
  return {
    file: String(argv.filename ?? ''),
    namespace: argv.namespace as string | undefined,
    output: argv.output as OutputFormat,
    dryRun: Boolean(argv['dry-run']),
  };
}

/** Every IOChaos in the file (or stdin for -f -), translated, or the reasons they cannot be run. */
export function readPlans(o: ApplyOptions, defaultNamespace: string): IOChaosPlan[] {
  let text: string;
  try {
    text = fs.readFileSync(o.file === '-' ? 0 : o.file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${o.file}: ${(err as Error).message}`, 'give the manifest with -f FILE');
  }
  const docs = YAML.parseAllDocuments(text);
  const plans: IOChaosPlan[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new UserError(`${o.file} is not valid YAML: ${doc.errors[0].message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const plan = translateIOChaos(value, defaultNamespace, o.namespace);
    try {
      parseRules([plan.rule], 'spec');
    } catch (err) {
      throw new UserError(
        `IOChaos ${plan.name}: ${(err as Error).message.replace(/spec\[0\]/g, 'spec')}`,
        'fix the field named; the fault spec follows Chaos Mesh IOChaos field names',
      );
    }
    plans.push(plan);
  }
  if (plans.length === 0) throw new UserError(`${o.file} holds no IOChaos`);
  return plans;
}

async function selectPods(reach: KubePodReach, plan: IOChaosPlan): Promise<V1Pod[]> {
  const kube = reach.target();
  const lists = await Promise.all(
    plan.namespaces.map((ns) => listPods(kube, ns, plan.labelSelector, plan.fieldSelector)),
  );
  const matching = lists.flat().filter((p) => matchesPlan(p, plan));
  if (matching.length === 0) {
    throw new UserError(
      `IOChaos ${plan.name}: no pods match its selector in namespace(s) ${plan.namespaces.join(', ')}`,
      `check with: kubectl get pods -n ${plan.namespaces[0]}${plan.labelSelector ? ` -l '${plan.labelSelector}'` : ''}`,
    );
  }
  return pickByMode(matching, plan.mode);
}

export async function runApply(o: ApplyOptions, reach: KubePodReach): Promise<number> {
  if (!o.file) throw new UserError('-f is required: the IOChaos manifest, e.g. -f io-latency.yaml');
  const plans = readPlans(o, reach.target().namespace);
  const all: Reached[] = [];
  for (const plan of plans) {
    const pods = await selectPods(reach, plan);
    const choice = { containers: plan.containerNames };
    if (o.dryRun) {
      printPlan(reach.planFor(pods, injectRequest(plan, [plan.rule]), choice), o.output);
      continue;
    }
    const results = await reach.sendTo(pods, injectExchange(plan, [plan.rule]), choice);
    all.push(...results);
    if (o.output !== 'json' && o.output !== 'yaml') {
      printResults(results, (r) => injectedLine(plan, r, ` (IOChaos ${plan.name})`));
    }
  }
  if (o.output === 'json' || o.output === 'yaml') {
    if (!o.dryRun) printStructuredResults(all, o.output);
  }
  return all.every((r) => r.reply.ok) ? 0 : 1;
}
