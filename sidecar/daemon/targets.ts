/**
 * Which processes an injection targets. A PID means that process and every process sharing its mount
 * namespace (they all see the same volume); a container id means every process whose cgroup names it.
 * The daemon itself and its workers are never targets, even when they share the namespace.
 */
import * as fs from 'node:fs';
import { ControlError, type Target } from '../api/control';

export interface ResolvedTarget {
  /** A live process of the target: its /proc/PID/root and /proc/PID/ns/mnt are the target's. */
  nsPid: number;
  pids: number[];
  /** The mount namespace's identity (`mnt:[4026531841]`), to tell injections apart. */
  mountNs: string;
}

function allPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

function readOr(pathname: string, fallback: string): string {
  try {
    return fs.readlinkSync(pathname);
  } catch {
    return fallback;
  }
}

export function mountNsOf(pid: number): string | undefined {
  const ns = readOr(`/proc/${pid}/ns/mnt`, '');
  return ns === '' ? undefined : ns;
}

export function resolveTarget(target: Target, exclude: ReadonlySet<number>): ResolvedTarget {
  if ('pid' in target) {
    const mountNs = mountNsOf(target.pid);
    if (mountNs === undefined) throw new ControlError('NotFound', `process ${target.pid} does not exist`);
    if (exclude.has(target.pid)) {
      throw new ControlError(
        'BadRequest',
        `process ${target.pid} is the chaosfs daemon or one of its workers`,
      );
    }
    const pids = allPids().filter((p) => !exclude.has(p) && mountNsOf(p) === mountNs);
    return { nsPid: target.pid, pids: pids.includes(target.pid) ? pids : [target.pid, ...pids], mountNs };
  }
  const id = target.containerId.replace(/^[a-z]+:\/\//, ''); // containerd://abc -> abc
  const pids = allPids().filter((p) => {
    if (exclude.has(p)) return false;
    try {
      return fs.readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(id);
    } catch {
      return false;
    }
  });
  if (pids.length === 0) {
    throw new ControlError(
      'NotFound',
      `no process of container ${target.containerName ?? ''} (${id}) is visible: does the pod set shareProcessNamespace: true?`,
    );
  }
  return { nsPid: pids[0], pids, mountNs: mountNsOf(pids[0]) ?? '' };
}

/** The processes of a target that are still alive. */
export function alive(pids: readonly number[]): number[] {
  return pids.filter((p) => fs.existsSync(`/proc/${p}`));
}
