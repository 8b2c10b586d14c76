/**
 * Sending control requests to wherever a target's daemon is: the local daemon for `pid/N`; the
 * chaosfs sidecar of each pod (through the Kubernetes API) for pod targets. One result per place.
 */
import type { ControlReply, ControlRequest, Target } from '../sidecar/api/control';
import { localDaemonOptions, sendLocal } from './local-daemon';
import type { TargetRef } from './target';
import { UserError } from './errors';

/** One request to the daemon that serves a target. */
export type Call = <T>(req: ControlRequest) => Promise<ControlReply<T>>;

/**
 * What to say to one target's daemon: usually one request, sometimes two (inject, then update when the
 * path is already injected). `target` is undefined only for pod-wide requests (status of a whole pod).
 */
export type Exchange<T> = (target: Target | undefined, call: Call) => Promise<Outcome<T>>;

export interface Outcome<T> {
  reply: ControlReply<T>;
  /** Inject found the path injected and added the rule to it instead. */
  added?: boolean;
}

export interface Reached<T = unknown> extends Outcome<T> {
  /** What a person calls this place: `pid/1234`, `pod/web-0`. */
  name: string;
  /** For pods: the namespace, so that follow-up commands can name it. */
  namespace?: string;
  /** The container the request was about, when one was chosen. */
  container?: string;
  /** What to do next, when the reply is an error this side understands. */
  hint?: string;
}

/** A request as --dry-run shows it, with the place it would go. */
export interface Planned {
  name: string;
  namespace?: string;
  container?: string;
  request: ControlRequest;
}

export interface ReachScope {
  /** The request concerns the whole pod unless a container is named (status). */
  podWide?: boolean;
}

export interface PodReach {
  send<T>(
    ref: Exclude<TargetRef, { kind: 'pid' }>,
    exchange: Exchange<T>,
    scope?: ReachScope,
  ): Promise<Reached<T>[]>;
  plan(
    ref: Exclude<TargetRef, { kind: 'pid' }>,
    build: (target: Target | undefined) => ControlRequest,
    scope?: ReachScope,
  ): Promise<Planned[]>;
  /** Every pod with the chaosfs sidecar, in the namespace or all of them (status -A), pod-wide. */
  injected<T>(allNamespaces: boolean, exchange: Exchange<T>): Promise<Reached<T>[]>;
}

export interface ReachOptions {
  say: (line: string) => void;
  /** Pod targets; absent when only local targets are supported. */
  pods?: PodReach;
}

function podReach(ref: TargetRef, opts: ReachOptions): PodReach {
  if (!opts.pods) throw new UserError(`${ref.kind} targets need a cluster connection`);
  return opts.pods;
}

export async function reach<T>(
  ref: TargetRef,
  exchange: Exchange<T>,
  opts: ReachOptions,
  scope: ReachScope = {},
): Promise<Reached<T>[]> {
  if (ref.kind === 'pid') {
    const local = localDaemonOptions(opts.say);
    const outcome = await exchange({ pid: ref.pid }, (req) => sendLocal(local, req));
    return [{ name: `pid/${ref.pid}`, ...outcome }];
  }
  return podReach(ref, opts).send(ref, exchange, scope);
}

/** The requests `reach` would send, resolved as far as they can be without sending them. */
export async function plan(
  ref: TargetRef,
  build: (target: Target | undefined) => ControlRequest,
  opts: ReachOptions,
  scope: ReachScope = {},
): Promise<Planned[]> {
  if (ref.kind === 'pid') return [{ name: `pid/${ref.pid}`, request: build({ pid: ref.pid }) }];
  return podReach(ref, opts).plan(ref, build, scope);
}

/** The usual exchange: one request, built for the target. */
export function single<T>(build: (target: Target | undefined) => ControlRequest): Exchange<T> {
  return async (target, call) => ({ reply: await call<T>(build(target)) });
}
