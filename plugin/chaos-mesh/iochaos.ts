/**
 * A Chaos Mesh IOChaos (chaos-mesh.org/v1alpha1) as iochaos requests: which pods (selector and
 * mode), which containers, and the one rule. Field by field, what Chaos Mesh means is kept; what
 * cannot be honoured here is named and refused rather than silently dropped, so an experiment never
 * runs narrower or wider than its author wrote.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { RuleInput } from '../../sidecar/api/fault-spec';
import { usageError, UserError } from '../errors';
import { labelSelectorString } from '../kube/selector';

export const IOCHAOS_API_VERSION = 'chaos-mesh.org/v1alpha1';

export type Mode =
  | { kind: 'one' | 'all' }
  | { kind: 'fixed'; count: number }
  | { kind: 'fixed-percent' | 'random-max-percent'; percent: number };

export interface IOChaosPlan {
  name: string;
  namespaces: string[];
  labelSelector: string;
  fieldSelector?: string;
  annotations: Record<string, string>;
  phases?: string[];
  /** selector.pods: namespace -> pod names. */
  podNames?: Record<string, string[]>;
  nodes?: string[];
  mode: Mode;
  containerNames?: string[];
  volumePath: string;
  rule: RuleInput;
}

const SPEC_FIELDS = [
  'action',
  'mode',
  'value',
  'selector',
  'containerNames',
  'volumePath',
  'path',
  'methods',
  'percent',
  'delay',
  'errno',
  'attr',
  'mistake',
  'duration',
];
const SELECTOR_FIELDS = [
  'namespaces',
  'labelSelectors',
  'expressionSelectors',
  'annotationSelectors',
  'fieldSelectors',
  'podPhaseSelectors',
  'nodes',
  'pods',
];
const WHY_NOT: Record<string, string> = {
  nodeSelectors: 'selecting pods by node labels needs the nodes API; list the nodes under selector.nodes',
  remoteCluster: 'iochaos runs against the cluster of your kubeconfig context; use --context instead',
};
/** The field each action needs, and the only action each takes. */
const ACTION_FIELD: Record<string, string> = {
  latency: 'delay',
  fault: 'errno',
  attrOverride: 'attr',
  mistake: 'mistake',
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function refuseUnknown(obj: Obj, known: string[], where: string, problems: string[]) {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    problems.push(`${where}.${key} is not supported${WHY_NOT[key] ? `: ${WHY_NOT[key]}` : ''}`);
  }
}

function stringList(v: unknown, where: string, problems: string[]): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    problems.push(`${where} must be a list of strings`);
    return undefined;
  }
  return v as string[];
}

function stringMap(v: unknown, where: string, problems: string[]): Record<string, string> {
  if (v === undefined) return {};
  if (!isObj(v) || !Object.values(v).every((x) => typeof x === 'string')) {
    problems.push(`${where} must be a map of strings`);
    return {};
  }
  return v as Record<string, string>;
}

/** Chaos Mesh's `path` is usually absolute, under volumePath ('/var/run/etcd/**\/*'); ours is relative to it. */
export function relativeGlob(path: string, volumePath: string): string | undefined {
  if (!path.startsWith('/')) return path === '' ? undefined : path;
  const root = volumePath.replace(/\/+$/, '');
  if (path === root || path === root + '/') return undefined;
  if (!path.startsWith(root + '/')) {
    throw new UserError(
      `spec.path ${path} is not under spec.volumePath ${volumePath}`,
      'iochaos faults only files inside the injected volume: give a path under volumePath',
    );
  }
  return path.slice(root.length + 1);
}

function mode(spec: Obj, problems: string[]): Mode {
  const kind = spec.mode;
  const value = spec.value === undefined ? undefined : String(spec.value);
  if (kind === 'one' || kind === 'all') return { kind };
  const n = value !== undefined && /^\d+$/.test(value) ? Number(value) : NaN;
  if (kind === 'fixed') {
    if (!(n >= 1))
      problems.push(`spec.value "${value ?? ''}": mode fixed needs a number of pods of 1 or more`);
    return { kind, count: n };
  }
  if (kind === 'fixed-percent' || kind === 'random-max-percent') {
    if (!(n >= 1 && n <= 100))
      problems.push(`spec.value "${value ?? ''}": mode ${kind} needs a percent from 1 to 100`);
    return { kind, percent: n };
  }
  problems.push(
    `spec.mode ${JSON.stringify(kind)}: use one of one, all, fixed, fixed-percent, random-max-percent`,
  );
  return { kind: 'one' };
}

/** fuser's FileType names (RegularFile) as the fault spec's (regularFile). */
function attr(v: unknown): unknown {
  if (!isObj(v)) return v;
  const out: Obj = { ...v };
  if (typeof out.kind === 'string') out.kind = out.kind.charAt(0).toLowerCase() + out.kind.slice(1);
  return out;
}

export function translateIOChaos(
  doc: unknown,
  defaultNamespace: string,
  namespaceFlag?: string,
): IOChaosPlan {
  if (!isObj(doc)) throw usageError('the file holds no object: expected an IOChaos manifest');
  if (doc.apiVersion !== IOCHAOS_API_VERSION || doc.kind !== 'IOChaos') {
    throw usageError(
      `${String(doc.kind ?? 'an object')} (${String(doc.apiVersion ?? 'no apiVersion')}) is not an IOChaos`,
      `kubectl iochaos apply takes Chaos Mesh IOChaos manifests (apiVersion ${IOCHAOS_API_VERSION}, kind IOChaos); apply anything else with kubectl apply`,
    );
  }
  const meta = isObj(doc.metadata) ? doc.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '(unnamed)';
  const where = `IOChaos ${name}`;
  const ownNs = typeof meta.namespace === 'string' ? meta.namespace : undefined;
  if (namespaceFlag && ownNs && namespaceFlag !== ownNs) {
    throw usageError(
      `${where} is in namespace ${ownNs}, but -n says ${namespaceFlag}`,
      'drop -n, or change metadata.namespace',
    );
  }
  const spec = doc.spec;
  if (!isObj(spec)) throw usageError(`${where} has no spec`);
  const problems: string[] = [];
  refuseUnknown(spec, SPEC_FIELDS, 'spec', problems);

  const selector = isObj(spec.selector) ? spec.selector : {};
  if (!isObj(spec.selector)) problems.push('spec.selector is required: which pods?');
  refuseUnknown(selector, SELECTOR_FIELDS, 'spec.selector', problems);
  const expressions = selector.expressionSelectors;
  if (expressions !== undefined && !Array.isArray(expressions))
    problems.push('spec.selector.expressionSelectors must be a list');
  let labelSelector = '';
  try {
    labelSelector = labelSelectorString({
      matchLabels: stringMap(selector.labelSelectors, 'spec.selector.labelSelectors', problems),
      matchExpressions: Array.isArray(expressions) ? expressions : undefined,
    });
  } catch (err) {
    problems.push(`spec.selector.expressionSelectors: ${(err as Error).message}`);
  }
  const fields = stringMap(selector.fieldSelectors, 'spec.selector.fieldSelectors', problems);
  const fieldSelector = Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  let podNames: Record<string, string[]> | undefined;
  if (selector.pods !== undefined) {
    if (!isObj(selector.pods)) problems.push('spec.selector.pods must map namespaces to pod names');
    else {
      podNames = {};
      for (const [ns, names] of Object.entries(selector.pods))
        podNames[ns] = stringList(names, `spec.selector.pods.${ns}`, problems) ?? [];
    }
  }
  const namespaces =
    stringList(selector.namespaces, 'spec.selector.namespaces', problems) ??
    (podNames ? Object.keys(podNames) : [ownNs ?? namespaceFlag ?? defaultNamespace]);

  const action = spec.action;
  const field = typeof action === 'string' ? ACTION_FIELD[action] : undefined;
  if (!field) {
    problems.push(
      `spec.action ${JSON.stringify(action)}: IOChaos actions are latency, fault, attrOverride, mistake (bandwidth and disk-full are kubectl iochaos bandwidth|diskfull)`,
    );
  } else {
    if (spec[field] === undefined) problems.push(`spec.${field} is required for action ${String(action)}`);
    for (const other of Object.values(ACTION_FIELD)) {
      if (other !== field && spec[other] !== undefined) {
        problems.push(`spec.${other} does not apply to action ${String(action)}; remove it`);
      }
    }
  }
  const volumePath = typeof spec.volumePath === 'string' ? spec.volumePath : '';
  if (!volumePath.startsWith('/'))
    problems.push('spec.volumePath is required: the absolute mount path in the container');
  const methods = stringList(spec.methods, 'spec.methods', problems);
  const containerNames = stringList(spec.containerNames, 'spec.containerNames', problems);
  if (spec.percent !== undefined && typeof spec.percent !== 'number')
    problems.push('spec.percent must be a number');
  if (spec.duration !== undefined && typeof spec.duration !== 'string')
    problems.push('spec.duration must be a string like "30s"');
  const m = mode(spec, problems);
  let path: string | undefined;
  if (spec.path !== undefined) {
    if (typeof spec.path !== 'string') problems.push('spec.path must be a string');
    else if (volumePath.startsWith('/')) {
      try {
        path = relativeGlob(spec.path, volumePath);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
  }
  const annotations = stringMap(selector.annotationSelectors, 'spec.selector.annotationSelectors', problems);
  const phases = stringList(selector.podPhaseSelectors, 'spec.selector.podPhaseSelectors', problems);
  const nodes = stringList(selector.nodes, 'spec.selector.nodes', problems);
  if (problems.length > 0) {
    throw usageError(
      `${where} cannot be run as written:\n  - ${problems.join('\n  - ')}`,
      'change the manifest (iochaos refuses what it cannot honour rather than run a different experiment)',
    );
  }
  const rule = Object.fromEntries(
    Object.entries({
      // A stable id: applying the same IOChaos again replaces its rule instead of stacking another.
      id: `${ownNs ?? namespaceFlag ?? defaultNamespace}/${name}`,
      action,
      path,
      // Chaos Mesh's docs write methods in capitals (READ); the method names are lower-case.
      methods: methods?.map((x) => x.toLowerCase()),
      percent: spec.percent,
      delay: spec.delay,
      errno: spec.errno,
      attr: spec.attr === undefined ? undefined : attr(spec.attr),
      mistake: spec.mistake,
      duration: spec.duration,
    }).filter(([, v]) => v !== undefined),
  ) as RuleInput;
  return {
    name,
    namespaces,
    labelSelector,
    fieldSelector: fieldSelector || undefined,
    annotations,
    phases,
    podNames,
    nodes,
    mode: m,
    containerNames,
    volumePath,
    rule,
  };
}

/**
 * The selector's parts the list API cannot apply: annotations, phases, nodes. (selector.pods is not
 * among them: Chaos Mesh takes the pods it names as given, whatever the other selectors say.)
 */
export function matchesPlan(pod: V1Pod, plan: IOChaosPlan): boolean {
  const md = pod.metadata ?? {};
  if (!Object.entries(plan.annotations).every(([k, v]) => md.annotations?.[k] === v)) return false;
  if (plan.phases && !plan.phases.includes(pod.status?.phase ?? '')) return false;
  if (plan.nodes && !plan.nodes.includes(pod.spec?.nodeName ?? '')) return false;
  return true;
}

/**
 * Chaos Mesh's modes: how many of the selected pods, picked at random. random-max-percent picks
 * between 1 and value% of them: Chaos Mesh draws from 0, and an experiment that by chance selects no
 * pod then fails, which helps nobody.
 */
export function pickByMode<T>(pods: T[], m: Mode, random: () => number = Math.random): T[] {
  let count: number;
  switch (m.kind) {
    case 'all':
      return pods;
    case 'one':
      count = 1;
      break;
    case 'fixed':
      count = Math.min(m.count, pods.length);
      break;
    case 'fixed-percent':
      count = Math.floor((pods.length * m.percent) / 100);
      break;
    case 'random-max-percent': {
      const most = Math.floor((pods.length * m.percent) / 100);
      count = most === 0 ? 0 : 1 + Math.floor(random() * most);
      break;
    }
  }
  if (count === 0 && pods.length > 0) {
    throw new UserError(
      `mode ${m.kind} selects no pod out of the ${pods.length} that match`,
      'raise spec.value, or use mode one',
    );
  }
  const shuffled = [...pods];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  return shuffled.slice(0, count);
}
