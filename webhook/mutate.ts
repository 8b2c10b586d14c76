/**
 * The decision and the mutation, with no I/O: a pod in, a mutated copy (or a reason not to) out.
 * admission.ts turns the copy into a JSONPatch by comparing it with the original, so nothing here
 * writes patch operations.
 */
import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';
import {
  DEFAULT_STATE_DIR,
  HEALTH_COMMAND,
  INJECT_ANNOTATION,
  POD_NAME_ENV,
  POD_NAMESPACE_ENV,
  SIDECAR_NAME,
} from '../sidecar/api/names';
import { type InjectionConfig, namespaceAllowed } from './config';

/** The emptyDir that keeps the daemon's journal across sidecar restarts (not pod restarts). */
export const STATE_VOLUME_NAME = 'iochaos-state';

export type SkipReason =
  | 'not-annotated'
  | 'annotation-not-true'
  | 'namespace-not-allowed'
  | 'already-injected'
  | 'volume-name-taken'
  | 'windows-pod';

export type MutationResult =
  | { injected: true; pod: V1Pod; warnings: string[] }
  | { injected: false; reason: SkipReason; warnings: string[] };

export function sidecarContainer(cfg: InjectionConfig): V1Container {
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
    // FUSE (/dev/fuse), mount --move in another mount namespace and ptrace of the app's threads
    // need all of: CAP_SYS_ADMIN, CAP_SYS_PTRACE, the device, and no seccomp/AppArmor filter.
    securityContext: { privileged: true, runAsUser: 0, runAsNonRoot: false },
    volumeMounts: [{ name: STATE_VOLUME_NAME, mountPath: DEFAULT_STATE_DIR }],
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

/**
 * `namespace` is the AdmissionRequest's: a pod created through a controller often has no
 * metadata.namespace (nor metadata.name) yet when it reaches a webhook.
 */
export function mutatePod(pod: V1Pod, namespace: string, cfg: InjectionConfig): MutationResult {
  const value = pod.metadata?.annotations?.[INJECT_ANNOTATION];
  if (value === undefined) return { injected: false, reason: 'not-annotated', warnings: [] };
  if (value !== 'true') {
    // "True" or " true" means someone meant to opt in: say why nothing happened.
    const warnings =
      value.trim().toLowerCase() === 'true'
        ? [`iochaos: ${INJECT_ANNOTATION} is ${JSON.stringify(value)}; only "true" injects the sidecar`]
        : [];
    return { injected: false, reason: 'annotation-not-true', warnings };
  }
  if (!namespaceAllowed(cfg, namespace)) {
    return {
      injected: false,
      reason: 'namespace-not-allowed',
      warnings: [`iochaos: namespace ${namespace} is not allowed by the webhook's configuration; no sidecar`],
    };
  }
  const spec = pod.spec;
  if (spec === undefined) throw new TypeError('pod has no spec');
  if ((spec.containers ?? []).some((c) => c.name === SIDECAR_NAME)) {
    return { injected: false, reason: 'already-injected', warnings: [] };
  }
  if ((spec.volumes ?? []).some((v) => v.name === STATE_VOLUME_NAME)) {
    return {
      injected: false,
      reason: 'volume-name-taken',
      warnings: [
        `iochaos: the pod already has a volume named ${STATE_VOLUME_NAME}; rename it to get the sidecar`,
      ],
    };
  }
  if (spec.os?.name === 'windows') {
    return {
      injected: false,
      reason: 'windows-pod',
      warnings: ['iochaos: Windows pods cannot run the privileged FUSE sidecar; no sidecar'],
    };
  }

  const warnings: string[] = [];
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
  outSpec.containers = [...(outSpec.containers ?? []), sidecarContainer(cfg)];
  outSpec.volumes = [...(outSpec.volumes ?? []), stateVolume()];
  return { injected: true, pod: out, warnings };
}
