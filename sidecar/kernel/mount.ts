/**
 * Move & mount: put a FUSE mount over PATH inside a target's mount namespace (stacked on top, the
 * original stays underneath), and take it off again. Wraps native/out/iochaos-mount.
 */
import { runHelper } from './native-helper';

export interface MountTop {
  /** Mount id (global, as in /proc/PID/mountinfo). */
  mntId: number;
  fstype: string;
  source: string;
  /** st_dev of the mount's file system, "major:minor". */
  dev: string;
  /** PATH is the root of this mount (always true for ours). */
  mountPoint: boolean;
}

export interface AttachResult extends MountTop {
  /** The mount that was on top before: the original, still there underneath. */
  belowMntId: number;
  /** PATH was a mount point before (false: a plain directory). */
  pathWasMountPoint: boolean;
}

export interface DetachResult {
  /** The mount taken off, or null if it was already gone. */
  detachedMntId: number | null;
  alreadyDetached: boolean;
  /** What is on top at PATH now; null when PATH cannot be looked at any more (see topProblem). */
  top: MountTop | null;
  /** Why PATH could not be looked at after ours was taken off (e.g. the app made it a symlink). */
  topProblem?: string;
}

const HELPER = 'iochaos-mount';

function top(j: Record<string, unknown>): MountTop {
  return {
    mntId: Number(j.mnt_id),
    fstype: String(j.fstype),
    source: String(j.source),
    dev: String(j.dev),
    mountPoint: j.mount_point === true,
  };
}

/**
 * Clones the FUSE mount at `source` (a path in the caller's namespace, e.g. a staging directory)
 * and stacks it on `path` in `pid`'s mount namespace. Refused (NativeHelperError, .refused) when
 * PATH is missing, `/`, not a directory, already injected, or the kernel lacks open_tree/move_mount.
 */
export async function attachMount(o: { pid: number; path: string; source: string }): Promise<AttachResult> {
  const { json } = await runHelper(HELPER, [
    'attach',
    '--pid',
    String(o.pid),
    '--path',
    o.path,
    '--source',
    o.source,
  ]);
  return {
    ...top(json),
    belowMntId: Number(json.below_mnt_id),
    pathWasMountPoint: json.path_was_mount_point === true,
  };
}

/**
 * Unmounts our mount `mntId` from the top of `path` in `pid`'s namespace. The helper opens PATH beneath
 * the target's root with no symlink followed, checks the mount id of what it opened, and unmounts
 * PATH's last component relative to the parent directory's fd, so renaming or symlinking directories
 * above PATH meanwhile cannot make it unmount another mount. Refuses (naming where `mntId` is now) if the top mount is not `mntId`, and if any
 * mount sits on or under ours. Already gone counts as done. Without `lazy`, fails with EBUSY while
 * files are open on it.
 */
export async function detachMount(o: {
  pid: number;
  path: string;
  mntId: number;
  lazy?: boolean;
}): Promise<DetachResult> {
  const args = ['detach', '--pid', String(o.pid), '--path', o.path, '--mnt-id', String(o.mntId)];
  if (o.lazy) args.push('--lazy');
  const { json } = await runHelper(HELPER, args);
  return {
    detachedMntId: json.detached_mnt_id === undefined ? null : Number(json.detached_mnt_id),
    alreadyDetached: json.already_detached === true,
    top: json.top === null ? null : top(json.top as Record<string, unknown>),
    ...(typeof json.top_problem === 'string' ? { topProblem: json.top_problem } : {}),
  };
}

/** What is on top at `path` in `pid`'s namespace; `injected` if it is a ChaosFS mount. */
export async function mountStatus(o: {
  pid: number;
  path: string;
}): Promise<MountTop & { injected: boolean }> {
  const { json } = await runHelper(HELPER, ['status', '--pid', String(o.pid), '--path', o.path]);
  return { ...top(json), injected: json.injected === true };
}
