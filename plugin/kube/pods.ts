/**
 * TARGET to pods: pod/NAME reads one pod; deployment/NAME and statefulset/NAME list the pods their
 * spec.selector picks (the pods the controller owns); -l SELECTOR lists the pods it matches. Pods
 * already being deleted are left out: injecting into a pod on its way out helps nobody.
 */
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { EXIT, UserError } from '../errors';
import { SIDECAR_NAME } from '../../sidecar/api/names';
import type { TargetRef } from '../target';
import { apiError, type ApiCall } from './api-errors';
import type { KubeTarget } from './kubeconfig';
import { labelSelectorString } from './selector';

export type PodRef = Exclude<TargetRef, { kind: 'pid' }>;

export async function listPods(
  kube: KubeTarget,
  namespace: string,
  labelSelector: string,
  fieldSelector?: string,
): Promise<V1Pod[]> {
  const call: ApiCall = { verb: 'list', resource: 'pods', namespace };
  const list = await kube.kc
    .makeApiClient(CoreV1Api)
    .listNamespacedPod({ namespace, labelSelector, fieldSelector })
    .catch((err: unknown) => {
      throw apiError(kube, call, err);
    });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp);
}

export async function readPod(kube: KubeTarget, name: string, namespace = kube.namespace): Promise<V1Pod> {
  const call: ApiCall = { verb: 'get', resource: 'pods', namespace, name };
  return kube.kc
    .makeApiClient(CoreV1Api)
    .readNamespacedPod({ name, namespace })
    .catch((err: unknown) => {
      throw apiError(
        kube,
        call,
        err,
        () =>
          new UserError(
            `pod "${name}" not found in namespace ${namespace}`,
            `list the pods there with: kubectl get pods -n ${namespace} (or give another namespace with -n)`,
            EXIT.notFound,
          ),
      );
    });
}

async function workloadSelector(kube: KubeTarget, kind: 'deployment' | 'statefulset', name: string) {
  const namespace = kube.namespace;
  const resource = kind === 'deployment' ? 'deployments.apps' : 'statefulsets.apps';
  const call: ApiCall = { verb: 'get', resource, namespace, name };
  const apps = kube.kc.makeApiClient(AppsV1Api);
  const obj = await (
    kind === 'deployment'
      ? apps.readNamespacedDeployment({ name, namespace })
      : apps.readNamespacedStatefulSet({ name, namespace })
  ).catch((err: unknown) => {
    throw apiError(
      kube,
      call,
      err,
      () =>
        new UserError(
          `${kind} "${name}" not found in namespace ${namespace}`,
          `list them with: kubectl get ${kind}s -n ${namespace}`,
          EXIT.notFound,
        ),
    );
  });
  const selector = labelSelectorString(obj.spec?.selector);
  if (selector === '') throw new UserError(`${kind}/${name} has an empty selector; name its pods instead`);
  return selector;
}

export async function resolvePods(kube: KubeTarget, ref: PodRef): Promise<V1Pod[]> {
  if (ref.kind === 'pod') return [await readPod(kube, ref.name)];
  const selector = ref.kind === 'selector' ? ref.selector : await workloadSelector(kube, ref.kind, ref.name);
  const pods = await listPods(kube, kube.namespace, selector);
  if (pods.length === 0) {
    throw new UserError(
      ref.kind === 'selector'
        ? `no pods in namespace ${kube.namespace} match -l ${selector}`
        : `${ref.kind}/${ref.name} in namespace ${kube.namespace} has no pods (selector ${selector})`,
      `check with: kubectl get pods -n ${kube.namespace} -l '${selector}'`,
      EXIT.notFound,
    );
  }
  return pods;
}

/**
 * The pods that carry the chaosfs sidecar, in the context's namespace or in all of them (-A): the
 * places an injection can be. The listing is filtered here, not by a label: the webhook marks pods
 * by annotation, which the list API cannot select on.
 */
export async function listInjectedPods(kube: KubeTarget, allNamespaces: boolean): Promise<V1Pod[]> {
  const call: ApiCall = {
    verb: 'list',
    resource: 'pods',
    namespace: allNamespaces ? 'all namespaces' : kube.namespace,
  };
  const api = kube.kc.makeApiClient(CoreV1Api);
  const list = await (
    allNamespaces ? api.listPodForAllNamespaces() : api.listNamespacedPod({ namespace: kube.namespace })
  ).catch((err: unknown) => {
    throw apiError(kube, call, err);
  });
  return list.items.filter(
    (p) => !p.metadata?.deletionTimestamp && (p.spec?.containers ?? []).some((c) => c.name === SIDECAR_NAME),
  );
}
