/**
 * Checks of an inject request that need the target itself (everything else is in the schema,
 * sidecar/api/control.ts): a pid target must not silently cover the whole host.
 */
import { ControlError, type Target } from '../api/control';
import { namespaceOf, sameNamespace } from './holders';
import type { ResolvedTarget } from './targets';

/**
 * A pid in the daemon's own mount namespace (or PID 1's) stands for every process of the host, the
 * daemon's neighbours and other jobs included: refused unless the caller says that is what it means.
 */
export function refuseHostWide(target: Target, resolved: ResolvedTarget, allInNamespace: boolean): void {
  if (!('pid' in target) || allInNamespace) return;
  const host = [namespaceOf(process.pid), namespaceOf(1)];
  if (!host.some((ns) => sameNamespace(ns, resolved.mountNs))) return;
  throw new ControlError(
    'BadRequest',
    `process ${target.pid} shares the host's mount namespace: the injection would cover all ${resolved.pids.length} processes of it, not one app; target a process in its own mount namespace (a container), or say --all-in-namespace if every process is meant`,
  );
}
