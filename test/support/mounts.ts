/** Reading the mount table, and making sure a test leaves no mount behind. */
import { execFileSync } from 'node:child_process';
import { mounts } from '../../sidecar/daemon/mount-table';

/** /proc/PID/mountinfo, parsed by the daemon's own reader (mount points decoded). */
export { mounts, type MountEntry } from '../../sidecar/daemon/mount-table';

export function isMounted(dir: string, fstype?: string): boolean {
  return mounts().some((m) => m.mountpoint === dir && (!fstype || m.fstype === fstype));
}

/** Last-resort cleanup in after hooks: a lazy unmount of whatever is still mounted at or under dir. */
export function forceUnmountUnder(dir: string): void {
  const stale = mounts()
    .map((m) => m.mountpoint)
    .filter((m) => m === dir || m.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const m of stale) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  }
}

/** No ChaosFS mount in `pid`'s table (or the test's own, 'self') at or under `under`. */
export const noChaosFsMountsIn = (pid: number | 'self', under = '/') =>
  !mounts(pid).some((m) => m.fstype === 'fuse.chaosfs' && m.mountpoint.startsWith(under));
