/**
 * `kubectl iochaos apply -f iochaos.yaml`: run a Chaos Mesh IOChaos experiment with iochaos, on the
 * pods its selector and mode pick (narrowed by -l, and to one container by -c). Nothing is written to
 * the cluster: the experiment lives in the pods' sidecars, and ends with its duration or `kubectl
 * iochaos recover`. Its rule's id is the IOChaos' namespace/name, so applying it again replaces it.
 */
import * as fs from 'node:fs';
import YAML from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { formatPath } from '../../sidecar/api/fault-spec';
import { matchesPlan, pickByMode, translateIOChaos, type IOChaosPlan } from '../chaos-mesh/iochaos';
import { exitCodeFor, usageError, UserError } from '../errors';
import { listPods, readPod } from '../kube/pods';
import type { KubePodReach } from '../kube/reach-pods';
import { parseOutput, structured, type OutputFormat } from '../output';
import type { Reached } from '../reach';
import { checkRequest, type FieldNamer } from '../request-check';
import {
  injectExchange,
  injectRequest,
  injectedLine,
  parseDryRun,
  printPlan,
  printResults,
  printStructuredResults,
  type DryRun,
} from './inject';

export interface ApplyOptions {
  file: string;
  namespace?: string;
  container?: string;
  selector?: string;
  output: OutputFormat;
  dryRun: DryRun;
}

export function completeApply(argv: Record<string, unknown>): ApplyOptions {
  return {
    file: String(argv.filename ?? ''),
    namespace: argv.namespace as string | undefined,
    container: argv.container as string | undefined,
    selector: argv.selector as string | undefined,
    output: parseOutput(argv.output),
    dryRun: parseDryRun(argv['dry-run']),
  };
}

/** A field of the request as the manifest names it: rules[0].attr.perm -> spec.attr.perm. */
const specFieldOf: FieldNamer = (path) =>
  path[0] === 'rules' ? formatPath(['spec', ...path.slice(2)]) : formatPath(['spec', ...path]);

/**
 * Every IOChaos in the file (or stdin for -f -), translated and checked with the daemon's schema, or
 * the reasons they cannot be run. YAML 1.1, as Kubernetes reads manifests: `perm: 0444` is octal.
 */
export function readPlans(o: ApplyOptions, defaultNamespace: string): IOChaosPlan[] {
  let text: string;
  try {
    text = fs.readFileSync(o.file === '-' ? 0 : o.file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${o.file}: ${(err as Error).message}`, 'give the manifest with -f FILE');
  }
  const docs = YAML.parseAllDocuments(text, { version: '1.1' });
  const plans: IOChaosPlan[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw usageError(`${o.file} is not valid YAML: ${doc.errors[0].message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const plan = translateIOChaos(value, defaultNamespace, o.namespace);
    try {
      const checked = checkRequest(
        injectRequest(plan, [plan.rule])({ containerId: 'placeholder' }),
        specFieldOf,
      );
      if (checked.op === 'inject') plan.volumePath = checked.volumePath;
    } catch (err) {
      throw usageError(
        `IOChaos ${plan.name}: ${(err as Error).message}`,
        'fix the field named; the fault spec follows Chaos Mesh IOChaos field names',
      );
    }
    plans.push(narrow(plan, o));
  }
  if (plans.length === 0) throw usageError(`${o.file} holds no IOChaos`);
  return plans;
}

/** -l narrows the IOChaos' label selector; -c picks one container (one of containerNames, if given). */
function narrow(plan: IOChaosPlan, o: ApplyOptions): IOChaosPlan {
  if (o.container && plan.containerNames && !plan.containerNames.includes(o.container)) {
    throw usageError(
      `-c ${o.container}: IOChaos ${plan.name} is for container(s) ${plan.containerNames.join(', ')}`,
      'drop -c, or name one of the containers of spec.containerNames',
    );
  }
  return {
    ...plan,
    labelSelector: [plan.labelSelector, o.selector].filter(Boolean).join(','),
    containerNames: o.container ? [o.container] : plan.containerNames,
  };
}

async function selectPods(reach: KubePodReach, plan: IOChaosPlan): Promise<V1Pod[]> {
  const kube = reach.target();
  let matching: V1Pod[];
  if (plan.podNames) {
    // As Chaos Mesh: selector.pods names the pods, and the other selectors do not apply.
    const named = Object.entries(plan.podNames).flatMap(([ns, names]) => names.map((n) => [ns, n] as const));
    matching = await Promise.all(named.map(([ns, n]) => readPod(kube, n, ns)));
  } else {
    const lists = await Promise.all(
      plan.namespaces.map((ns) => listPods(kube, ns, plan.labelSelector, plan.fieldSelector)),
    );
    matching = lists.flat().filter((p) => matchesPlan(p, plan));
  }
  if (matching.length === 0) {
    throw new UserError(
      `IOChaos ${plan.name}: no pods match its selector in namespace(s) ${plan.namespaces.join(', ')}`,
      `check with: kubectl get pods -n ${plan.namespaces[0]}${plan.labelSelector ? ` -l '${plan.labelSelector}'` : ''}`,
      3,
    );
  }
  return pickByMode(matching, plan.mode);
}

export async function runApply(o: ApplyOptions, reach: KubePodReach): Promise<number> {
  if (!o.file)
    throw usageError(
      '-f is required: the IOChaos manifest, e.g. -f io-latency.yaml',
      'see: kubectl iochaos apply --help',
    );
  const plans = readPlans(o, reach.target().namespace);
  const all: Reached[] = [];
  for (const plan of plans) {
    const pods = await selectPods(reach, plan);
    const choice = { containers: plan.containerNames };
    const shape = { ...plan, allInNamespace: false, dryRun: o.dryRun };
    if (o.dryRun === 'client') {
      printPlan(reach.planFor(pods, injectRequest(shape, [plan.rule]), choice), o.output);
      continue;
    }
    const results = await reach.sendTo(pods, injectExchange(shape, [plan.rule]), choice);
    all.push(...results);
    if (!structured(o.output)) {
      printResults(results, (r) => injectedLine(shape, r));
    }
  }
  if (structured(o.output) && o.dryRun !== 'client') printStructuredResults(all, o.output);
  return exitCodeFor(all.map((r) => r.reply));
}
