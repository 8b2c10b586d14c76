/**
 * Pod targets end to end: kubeconfig -> pods -> sidecar ready -> container id -> exec `chaosfs ctl`.
 * Pods are handled in parallel and each gets its own result, so one broken pod neither hides nor stops
 * the others. Problems of the whole command (no kubeconfig, API down, pod/NAME absent, RBAC on the
 * listing) are thrown; problems of one pod become that pod's error line, with what to do next.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { ControlReply, ControlRequest, Target } from '../../sidecar/api/control';
import { SIDECAR_NAME } from '../../sidecar/api/names';
import { UserError } from '../errors';
import type { Exchange, Outcome, Planned, PodReach, Reached, ReachScope } from '../reach';
import { execCtl } from './exec';
import { loadKube, type KubeFlags, type KubeTarget } from './kubeconfig';
import { listInjectedPods, resolvePods, type PodRef } from './pods';
import { checkSidecar, chooseContainer } from './sidecar';

export interface PodReachFlags extends KubeFlags {
  container?: string;
}

/** Which containers of each pod a request is for: -c, an IOChaos's containerNames, or the default. */
export interface ContainerChoice {
  containers?: string[];
  podWide?: boolean;
}

const failed = (message: string): ControlReply<never> => ({
  version: 1,
  ok: false,
  error: { code: 'BadRequest', message },
});

/** Advice for daemon replies whose cause is on the Kubernetes side of things. */
function hintFor(reply: ControlReply<unknown>, pod: V1Pod, container?: string): string | undefined {
  if (reply.ok) return undefined;
  const name = pod.metadata?.name;
  const ns = pod.metadata?.namespace;
  const m = reply.error.message;
  if (reply.error.field === 'volumePath' && reply.error.code === 'NotFound') {
    return `--path is a directory inside container ${container ?? '?'}; see its mounts with: kubectl exec ${name} -n ${ns} -c ${container ?? 'NAME'} -- cat /proc/self/mounts`;
  }
  if (m.includes('is visible')) {
    return `the ${SIDECAR_NAME} sidecar sees the app's processes only with shareProcessNamespace: true in the pod spec; recreate the pod with it (the webhook sets it)`;
  }
  return undefined;
}

export class KubePodReach implements PodReach {
  private kube?: KubeTarget;

  constructor(
    private readonly flags: PodReachFlags,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** Loaded on first use: pid targets never need a kubeconfig. */
  target(): KubeTarget {
    return (this.kube ??= loadKube(this.flags, this.env));
  }

  async send<T>(ref: PodRef, exchange: Exchange<T>, scope: ReachScope = {}): Promise<Reached<T>[]> {
    const pods = await resolvePods(this.target(), ref);
    return this.sendTo(pods, exchange, this.choice(scope));
  }

  async plan(
    ref: PodRef,
    build: (target: Target | undefined) => ControlRequest,
    scope: ReachScope = {},
  ): Promise<Planned[]> {
    const pods = await resolvePods(this.target(), ref);
    return this.planFor(pods, build, this.choice(scope));
  }

  async injected<T>(allNamespaces: boolean, exchange: Exchange<T>): Promise<Reached<T>[]> {
    const pods = await listInjectedPods(this.target(), allNamespaces);
    return this.sendTo(pods, exchange, { podWide: true });
  }

  private choice(scope: ReachScope): ContainerChoice {
    return { containers: this.flags.container ? [this.flags.container] : undefined, podWide: scope.podWide };
  }

  /** One (pod, container) pair per place a request goes; a pod that cannot be used is one error. */
  private places(pod: V1Pod, choice: ContainerChoice): { name?: string; target?: Target }[] {
    checkSidecar(pod);
    if (choice.podWide && !choice.containers) return [{}];
    return (choice.containers ?? [undefined]).map((wanted) => {
      const c = chooseContainer(pod, wanted);
      return { name: c.name, target: { containerId: c.containerId, containerName: c.name } };
    });
  }

  async sendTo<T>(pods: V1Pod[], exchange: Exchange<T>, choice: ContainerChoice): Promise<Reached<T>[]> {
    const kube = this.target();
    const perPod = await Promise.all(
      pods.map(async (pod): Promise<Reached<T>[]> => {
        const podName = pod.metadata!.name!;
        const namespace = pod.metadata!.namespace ?? kube.namespace;
        const name = `pod/${podName}`;
        let places: { name?: string; target?: Target }[];
        try {
          places = this.places(pod, choice);
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
          return [{ name, namespace, reply: failed(err.message), hint: err.hint }];
        }
        return Promise.all(
          places.map(async (place): Promise<Reached<T>> => {
            const where = { name, namespace, container: place.name };
            try {
              const outcome: Outcome<T> = await exchange(place.target, (req) =>
                execCtl(kube, namespace, podName, req),
              );
              return { ...where, ...outcome, hint: hintFor(outcome.reply, pod, place.name) };
            } catch (err) {
              if (!(err instanceof UserError)) throw err;
              return { ...where, reply: failed(err.message), hint: err.hint };
            }
          }),
        );
      }),
    );
    return perPod.flat();
  }

  planFor(
    pods: V1Pod[],
    build: (target: Target | undefined) => ControlRequest,
    choice: ContainerChoice,
  ): Planned[] {
    const kube = this.target();
    return pods.flatMap((pod) =>
      this.places(pod, choice).map((place) => ({
        name: `pod/${pod.metadata!.name}`,
        namespace: pod.metadata!.namespace ?? kube.namespace,
        container: place.name,
        request: build(place.target),
      })),
    );
  }
}
