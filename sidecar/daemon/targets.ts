/**
 * Which processes an injection targets, as the user names them. A PID means its mount namespace: that
 * process and every process sharing it (they all see the same volume), now and later. A container id
 * means every process whose cgroup names it, and their mount namespace. The daemon itself and its
 * workers are never targets, even when they share the namespace.
 *
 * The namespace, not the named process, is what an injection is attached to: the named process may
 * exit while the others go on using the volume (holders.ts finds them each time).
 */
import { ControlError, type Target } from '../api/control';
import {
  containerIdOf,
  namespaceOf,
  processesOfContainer,
  processesOfNamespace,
  type NamespaceId,
} from './holders';

export interface ResolvedTarget {
  /** A live process of the target: its /proc/PID/root and /proc/PID/ns/mnt are the target's. */
  nsPid: number;
  /** The target's processes now (the namespace's, and for a container its cgroup's). */
  pids: number[];
  /** The mount namespace's identity, to tell injections apart and find the target again. */
  mountNs: NamespaceId;
  /** For a container target: its id, checked and without the runtime's scheme. */
  containerId?: string;
}

/** The container id of a target, or a BadRequest naming what is wrong with it. */
export function checkedContainerId(given: string): string {
  const id = containerIdOf(given);
  if (id === undefined) {
    throw new ControlError(
      'BadRequest',
      `containerId: "${given}" is not a full container id (64 hex digits, optionally after "containerd://" or the like)`,
    );
  }
  return id;
}

export function resolveTarget(target: Target, exclude: ReadonlySet<number>): ResolvedTarget {
  if ('pid' in target) {
    const mountNs = namespaceOf(target.pid);
    if (mountNs === undefined) throw new ControlError('NotFound', `process ${target.pid} does not exist`);
    if (exclude.has(target.pid)) {
      throw new ControlError(
        'BadRequest',
        `process ${target.pid} is the chaosfs daemon or one of its workers`,
      );
    }
    const pids = processesOfNamespace(mountNs, exclude);
    return { nsPid: target.pid, pids: pids.includes(target.pid) ? pids : [target.pid, ...pids], mountNs };
  }
  const containerId = checkedContainerId(target.containerId);
  const inCgroup = processesOfContainer(containerId, exclude);
  const nsPid = inCgroup.find((p) => namespaceOf(p) !== undefined);
  if (nsPid === undefined) {
    throw new ControlError(
      'NotFound',
      `no process of container ${target.containerName ?? ''} (${containerId}) is visible: does the pod set shareProcessNamespace: true?`,
    );
  }
  const mountNs = namespaceOf(nsPid)!;
  const pids = [...new Set([...inCgroup, ...processesOfNamespace(mountNs, exclude)])];
  return { nsPid, pids, mountNs, containerId };
}

/** The target's processes now: its namespace's, and its container's if it is one. */
export function targetProcesses(
  mountNs: NamespaceId,
  containerId: string | undefined,
  exclude: ReadonlySet<number>,
): number[] {
  const pids = processesOfNamespace(mountNs, exclude);
  if (containerId === undefined) return pids;
  return [...new Set([...processesOfContainer(containerId, exclude), ...pids])];
}

/** The namespace a target names now, if any of its processes lives (for recover/status/update). */
export function namespaceOfTarget(target: Target, exclude: ReadonlySet<number>): NamespaceId | undefined {
  if ('pid' in target) return namespaceOf(target.pid);
  const id = containerIdOf(target.containerId);
  if (id === undefined) return undefined;
  for (const p of processesOfContainer(id, exclude)) {
    const ns = namespaceOf(p);
    if (ns) return ns;
  }
  return undefined;
}
