/**
 * Sending one control request to wherever a target's daemon is: the local daemon for `pid/N`; the
 * chaosfs sidecar of each pod (through the Kubernetes API) for pod targets. One reply per place.
 */
import type { ControlReply, ControlRequest, Target } from '../sidecar/api/control';
import { localDaemonOptions, sendLocal } from './local-daemon';
import type { TargetRef } from './target';
import { UserError } from './errors';

export interface Reached<T = unknown> {
  /** What a person calls this place: `pid/1234`, `pod/web-0`. */
  name: string;
  reply: ControlReply<T>;
}

export interface ReachOptions {
  say: (line: string) => void;
  /** Pod targets: resolves and execs into pods; absent when only local targets are supported. */
  pods?: (ref: TargetRef, build: (target: Target) => ControlRequest) => Promise<Reached[]>;
}

/** `build` makes the request for one concrete target (a pid, or a container in one pod). */
export async function reach<T>(
  ref: TargetRef,
  build: (target: Target) => ControlRequest,
  opts: ReachOptions,
): Promise<Reached<T>[]> {
  if (ref.kind === 'pid') {
    const reply = await sendLocal<T>(localDaemonOptions(opts.say), build({ pid: ref.pid }));
    return [{ name: `pid/${ref.pid}`, reply }];
  }
  if (!opts.pods) throw new UserError(`${ref.kind} targets need a cluster connection`);
  return (await opts.pods(ref, build)) as Reached<T>[];
}
