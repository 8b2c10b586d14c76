/**
 * What a pod must offer before the plugin execs into it: the chaosfs sidecar (added by the webhook)
 * running and ready, and an app container whose id the daemon can find among the pod's processes.
 */
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import {
  INJECT_ANNOTATION,
  INJECT_LABEL,
  NAMESPACE_INJECTION_ENABLED,
  NAMESPACE_INJECTION_LABEL,
  SIDECAR_NAME,
} from '../../sidecar/api/names';
import { UserError } from '../errors';

const podName = (pod: V1Pod) => pod.metadata?.name ?? '?';
const podNs = (pod: V1Pod) => pod.metadata?.namespace ?? '?';

function statuses(pod: V1Pod): V1ContainerStatus[] {
  return [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
}

/** The app containers: everything but the sidecar (init containers have exited by the time it matters). */
export function appContainers(pod: V1Pod): string[] {
  return (pod.spec?.containers ?? []).map((c) => c.name).filter((n) => n !== SIDECAR_NAME);
}

export function checkSidecar(pod: V1Pod): void {
  const name = podName(pod);
  const ns = podNs(pod);
  const hasSidecar =
    (pod.spec?.containers ?? []).some((c) => c.name === SIDECAR_NAME) ||
    // A native sidecar (an init container that keeps running) counts as well.
    (pod.spec?.initContainers ?? []).some((c) => c.name === SIDECAR_NAME && c.restartPolicy === 'Always');
  if (!hasSidecar) {
    const annotated = pod.metadata?.annotations?.[INJECT_ANNOTATION];
    throw new UserError(
      annotated === 'true'
        ? `pod ${ns}/${name} has ${INJECT_ANNOTATION}: "true" but no ${SIDECAR_NAME} sidecar: the iochaos webhook did not inject it when the pod was created`
        : `pod ${ns}/${name} is not injected: it has no ${SIDECAR_NAME} sidecar`,
      annotated === 'true'
        ? `check the webhook runs (kubectl get pods -n iochaos-system) and allows namespace ${ns}, then recreate the pod (kubectl delete pod ${name} -n ${ns}; its controller makes a new one)`
        : `opt in: label the namespace (kubectl label namespace ${ns} ${NAMESPACE_INJECTION_LABEL}=${NAMESPACE_INJECTION_ENABLED}) and the pod template (kubectl patch deployment NAME -n ${ns} -p '{"spec":{"template":{"metadata":{"labels":{"${INJECT_LABEL}":"true"}}}}}'), then recreate the pod so the webhook adds the sidecar`,
    );
  }
  if (pod.status?.phase !== 'Running') {
    throw new UserError(
      `pod ${ns}/${name} is ${pod.status?.phase ?? 'not running'}, not Running`,
      `wait until it runs: kubectl get pod ${name} -n ${ns} -w`,
    );
  }
  const st = statuses(pod).find((s) => s.name === SIDECAR_NAME);
  if (!st?.ready) {
    const why = st?.state?.waiting
      ? `waiting: ${st.state.waiting.reason ?? ''}${st.state.waiting.message ? ` (${st.state.waiting.message})` : ''}`
      : st?.state?.terminated
        ? `terminated: ${st.state.terminated.reason ?? ''} (exit ${st.state.terminated.exitCode})`
        : st?.state?.running
          ? 'running, but its readiness probe (chaosfs health) does not pass yet'
          : 'no status yet';
    throw new UserError(
      `the ${SIDECAR_NAME} sidecar of pod ${ns}/${name} is not ready (${why})`,
      `wait a few seconds and retry; if it stays so, read its log: kubectl logs ${name} -n ${ns} -c ${SIDECAR_NAME}`,
    );
  }
}

export interface ChosenContainer {
  name: string;
  /** As the kubelet reports it: containerd://0123..., docker://..., cri-o://... */
  containerId: string;
}

/** `wanted` is -c (or an IOChaos containerName); without it, the only app container. */
export function chooseContainer(pod: V1Pod, wanted?: string): ChosenContainer {
  const name = podName(pod);
  const ns = podNs(pod);
  const apps = appContainers(pod);
  if (wanted === SIDECAR_NAME) {
    throw new UserError(
      `-c ${SIDECAR_NAME} is the iochaos sidecar itself; name an app container`,
      `pod ${name} has: ${apps.join(', ')}`,
    );
  }
  if (wanted !== undefined && !apps.includes(wanted)) {
    throw new UserError(
      `pod ${ns}/${name} has no container "${wanted}"`,
      `its containers are: ${apps.join(', ')}`,
    );
  }
  if (wanted === undefined && apps.length !== 1) {
    throw new UserError(
      `pod ${ns}/${name} has ${apps.length} app containers (${apps.join(', ')}): which one?`,
      `name it with -c, e.g. -c ${apps[0] ?? 'NAME'}`,
    );
  }
  const chosen = wanted ?? apps[0];
  const st = statuses(pod).find((s) => s.name === chosen);
  if (!st?.containerID || !st.state?.running) {
    throw new UserError(
      `container ${chosen} of pod ${ns}/${name} is not running${st?.state?.waiting?.reason ? ` (${st.state.waiting.reason})` : ''}, so it has no processes to inject into`,
      `wait until it runs: kubectl get pod ${name} -n ${ns} -w`,
    );
  }
  return { name: chosen, containerId: st.containerID };
}
