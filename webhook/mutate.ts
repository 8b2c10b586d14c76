/**
 * The decision and the mutation, with no I/O: a pod in, a mutated copy (or a reason not to) out.
 * admission.ts turns the copy into a JSONPatch by comparing it with the original, so nothing here
 * writes patch operations.
 */
import type { V1Affinity, V1Container, V1NodeSelectorTerm, V1Pod, V1Volume } from '@kubernetes/client-node';
import {
  DEFAULT_STATE_DIR,
  HEALTH_COMMAND,
  INJECT_ANNOTATION,
  INJECT_LABEL,
  POD_NAME_ENV,
  POD_NAMESPACE_ENV,
  SIDECAR_NAME,
  SIDECAR_PROFILE_ANNOTATION,
} from '../sidecar/api/names';
import { type InjectionConfig, namespaceAllowed } from './config';
import { isSidecarProfile, profileParts, type SidecarProfile } from './sidecar-security';

/** The emptyDir that keeps the daemon's journal across sidecar restarts (not pod restarts). */
export const STATE_VOLUME_NAME = 'iochaos-state';

/** The Pod Security admission label whose `baseline` and `restricted` levels refuse the sidecar. */
export const POD_SECURITY_ENFORCE_LABEL = 'pod-security.kubernetes.io/enforce';

export type SkipReason =
  | 'not-annotated'
  | 'annotation-not-true'
  | 'namespace-not-allowed'
  | 'already-injected'
  | 'container-name-taken'
  | 'volume-name-taken'
  | 'windows-pod'
  | 'pod-security'
  | 'bad-profile';

export type MutationResult =
  | { injected: true; pod: V1Pod; warnings: string[] }
  | { injected: false; reason: SkipReason; warnings: string[] };

/**
 * What the server could learn about the pod's namespace (its labels, read through the API and
 * cached; namespaces.ts). `unreadable` says why the labels are unknown when the read failed;
 * neither set means the webhook runs without API access (--self-signed, --cert-dir).
 */
export interface NamespaceInfo {
  labels?: Record<string, string>;
  unreadable?: string;
}

export function sidecarContainer(
  cfg: InjectionConfig,
  profile: SidecarProfile = cfg.sidecarProfile,
): V1Container {
  const parts = profileParts(profile);
  return {
    name: SIDECAR_NAME,
    image: cfg.sidecarImage,
    imagePullPolicy: cfg.sidecarImagePullPolicy,
    command: ['chaosfs', 'daemon'],
    env: [
      // The downward API resolves metadata.name after the API server fills in generateName.
      { name: POD_NAME_ENV, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      {
        name: POD_NAMESPACE_ENV,
        valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
      },
    ],
    resources: structuredClone(cfg.sidecarResources),
    // The capabilities it uses and why: sidecar-security.ts.
    securityContext: parts.securityContext,
    volumeMounts: [{ name: STATE_VOLUME_NAME, mountPath: DEFAULT_STATE_DIR }, ...parts.volumeMounts],
    readinessProbe: {
      exec: { command: [...HEALTH_COMMAND] },
      initialDelaySeconds: 1,
      periodSeconds: 5,
      timeoutSeconds: 3,
      failureThreshold: 3,
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

function stateVolume(): V1Volume {
  return { name: STATE_VOLUME_NAME, emptyDir: {} };
}

const skip = (reason: SkipReason, warning?: string): MutationResult => ({
  injected: false,
  reason,
  warnings: warning === undefined ? [] : [`iochaos: ${warning}`],
});

const OS_LABELS = ['kubernetes.io/os', 'beta.kubernetes.io/os'];

/** A node selector term that only Windows nodes can satisfy. */
function termNeedsWindows(term: V1NodeSelectorTerm): boolean {
  return (term.matchExpressions ?? []).some(
    (e) =>
      OS_LABELS.includes(e.key) &&
      ((e.operator === 'In' && (e.values ?? []).length > 0 && e.values!.every((v) => v === 'windows')) ||
        (e.operator === 'NotIn' && (e.values ?? []).includes('linux'))),
  );
}

/** Whether the pod can only be scheduled on Windows: spec.os, its nodeSelector, or required node affinity. */
function windowsOnly(spec: NonNullable<V1Pod['spec']>): boolean {
  if (spec.os?.name === 'windows') return true;
  if (OS_LABELS.some((l) => spec.nodeSelector?.[l] === 'windows')) return true;
  const affinity: V1Affinity | undefined = spec.affinity;
  const terms =
    affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  // Terms are ORed: the pod needs Windows only if every one of them does.
  return terms.length > 0 && terms.every(termNeedsWindows);
}

/** Ours, as a previous admission (or a copy of an injected pod) left it: same name, `chaosfs daemon`. */
const isOurSidecar = (c: V1Container): boolean =>
  c.name === SIDECAR_NAME && c.command?.[0] === 'chaosfs' && c.command?.[1] === 'daemon';

/** The opt-in: label (what the objectSelector matches) or annotation, exactly "true". */
function optIn(pod: V1Pod): MutationResult | undefined {
  const values = [pod.metadata?.labels?.[INJECT_LABEL], pod.metadata?.annotations?.[INJECT_ANNOTATION]];
  if (values.includes('true')) return undefined;
  const near = values.find((v) => v !== undefined && v.trim().toLowerCase() === 'true');
  // "True" or " true" means someone meant to opt in: say why nothing happened.
  if (near !== undefined) {
    return skip(
      'annotation-not-true',
      `${INJECT_LABEL} is ${JSON.stringify(near)}; only "true" injects the sidecar`,
    );
  }
  return values.every((v) => v === undefined) ? skip('not-annotated') : skip('annotation-not-true');
}

/** Whether the pod asks for the sidecar at all (the server reads namespace labels only then). */
export const optedIn = (pod: V1Pod): boolean => optIn(pod) === undefined;

/** The profile the pod gets: the configured one, or `capabilities` when the pod asks for less. */
function chooseProfile(pod: V1Pod, cfg: InjectionConfig): SidecarProfile | MutationResult {
  const asked = pod.metadata?.annotations?.[SIDECAR_PROFILE_ANNOTATION];
  if (asked === undefined || asked === cfg.sidecarProfile) return cfg.sidecarProfile;
  if (!isSidecarProfile(asked)) {
    return skip(
      'bad-profile',
      `${SIDECAR_PROFILE_ANNOTATION} is ${JSON.stringify(asked.slice(0, 60))}: use "capabilities" or ` +
        '"privileged"; no sidecar',
    );
  }
  if (asked === 'privileged') {
    return skip(
      'bad-profile',
      `${SIDECAR_PROFILE_ANNOTATION} asks for "privileged" but the webhook is configured for ` +
        `"${cfg.sidecarProfile}"; a pod cannot ask for more privilege; no sidecar`,
    );
  }
  return asked;
}

/** Pod Security admission runs after this webhook and would refuse the whole pod. */
function podSecurity(namespace: string, ns: NamespaceInfo): MutationResult | undefined {
  const level = ns.labels?.[POD_SECURITY_ENFORCE_LABEL];
  if (level === 'baseline' || level === 'restricted') {
    return skip(
      'pod-security',
      `namespace ${namespace} enforces Pod Security "${level}", which refuses the chaosfs sidecar ` +
        `(privileged, or added capabilities and a hostPath); the pod was admitted without it. To inject, ` +
        `label the namespace ${POD_SECURITY_ENFORCE_LABEL}=privileged`,
    );
  }
  return undefined;
}

/**
 * `namespace` is the AdmissionRequest's: a pod created through a controller often has no
 * metadata.namespace (nor metadata.name) yet when it reaches a webhook.
 */
export function mutatePod(
  pod: V1Pod,
  namespace: string,
  cfg: InjectionConfig,
  ns: NamespaceInfo = {},
): MutationResult {
  const notOptedIn = optIn(pod);
  if (notOptedIn !== undefined) return notOptedIn;
  if (!namespaceAllowed(cfg, namespace)) {
    return skip(
      'namespace-not-allowed',
      `namespace ${namespace} is not allowed by the webhook's configuration; no sidecar`,
    );
  }
  const spec = pod.spec;
  if (spec === undefined) throw new TypeError('pod has no spec');
  if ((spec.containers ?? []).some(isOurSidecar)) return skip('already-injected');
  const taken = [...(spec.initContainers ?? []), ...(spec.containers ?? [])].find(
    (c) => c.name === SIDECAR_NAME,
  );
  if (taken !== undefined) {
    const where = (spec.initContainers ?? []).includes(taken) ? 'an init container' : 'a container';
    return skip(
      'container-name-taken',
      `the pod already has ${where} named ${SIDECAR_NAME}; a second one would make the API server refuse ` +
        `the pod, so it was admitted without the sidecar. Rename that container to get it`,
    );
  }
  const profile = chooseProfile(pod, cfg);
  if (typeof profile !== 'string') return profile;
  const parts = profileParts(profile);
  const volumeNames = new Set((spec.volumes ?? []).map((v) => v.name));
  const clash = [STATE_VOLUME_NAME, ...parts.volumes.map((v) => v.name)].find((n) => volumeNames.has(n));
  if (clash !== undefined) {
    return skip(
      'volume-name-taken',
      `the pod already has a volume named ${clash}; rename it to get the sidecar`,
    );
  }
  if (windowsOnly(spec)) {
    return skip(
      'windows-pod',
      'the pod can only run on Windows nodes (spec.os, nodeSelector or node affinity), which cannot run ' +
        'the FUSE sidecar; no sidecar',
    );
  }
  const refused = podSecurity(namespace, ns);
  if (refused !== undefined) return refused;

  const warnings: string[] = [];
  if (ns.unreadable !== undefined) {
    warnings.push(
      `iochaos: could not read namespace ${namespace} (${ns.unreadable}); if it enforces Pod Security ` +
        '"baseline" or "restricted", the pod will be refused because of the chaosfs sidecar',
    );
  }
  // A copy that shares every part it does not change: cheaper than a deep clone on the hot path,
  // and compare() skips shared subtrees. Only the new spec object and new arrays are written to.
  const outSpec = { ...spec };
  const out: V1Pod = { ...pod, spec: outSpec };
  if (outSpec.hostPID === true) {
    // The API server rejects hostPID together with shareProcessNamespace; with hostPID the sidecar
    // already sees the app's processes.
    warnings.push('iochaos: pod uses hostPID, so shareProcessNamespace is left unset');
  } else {
    if (outSpec.shareProcessNamespace === false) {
      warnings.push(
        'iochaos: shareProcessNamespace was false; set to true so the chaosfs sidecar can see the app',
      );
    }
    outSpec.shareProcessNamespace = true;
  }
  outSpec.containers = [...(outSpec.containers ?? []), sidecarContainer(cfg, profile)];
  outSpec.volumes = [...(outSpec.volumes ?? []), stateVolume(), ...parts.volumes];
  return { injected: true, pod: out, warnings };
}
