/**
 * Re-checks a caller's access against the backing's REAL attributes while an attrOverride rule could
 * have misled the kernel's `default_permissions` check (access.ts says why). It gathers what the pure
 * decisions need: the caller's credentials (FUSE's fsuid/fsgid, supplementary groups from
 * /proc/<pid>/status) and the real stat of the file, its parent and every directory on the way.
 *
 * Cost: nothing while no such rule is on (and then no call is routed to JS for it); with one on, every
 * call goes to the JS handlers (chaosfs.ts) and pays one stat per path component. The guard stays on
 * for GRACE_MS after the last such rule goes, because the kernel may still act on an overridden
 * attribute it was given just before (a reply is fresh for the rest of the jiffy it came in, and a
 * check and the request that follows it are not atomic).
 */
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import type { Rule } from '../api/fault-spec';
import { X, mayAccess, type Credentials, type RealStat } from './access';
import { Refusal } from './rules-gate';
import { split, type Backing } from './backing';

const GRACE_MS = 1000;
const lstat = promisify(fs.lstat);
const stat = promisify(fs.stat);

/** Who made a request, as the FUSE binding reports it (fsuid, fsgid, thread id). */
export interface Caller {
  uid: number;
  gid: number;
  pid?: number;
}

/** Whether a rule changes attributes the kernel's permission check reads. */
export function changesAccess(rule: Rule): boolean {
  if (rule.action !== 'attrOverride') return false;
  const a = rule.attr;
  return a.uid !== undefined || a.gid !== undefined || a.perm !== undefined || a.kind !== undefined;
}

/**
 * Supplementary groups of the calling thread. A thread id can be reused once its thread is gone; the
 * fs ids in the same file must then still be the caller's, else no supplementary group is assumed
 * (which can only refuse more).
 */
export function credentialsOf(caller: Caller): Credentials {
  const base = { uid: caller.uid, gid: caller.gid, groups: [] as number[] };
  if (caller.uid === 0 || !caller.pid) return base;
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${caller.pid}/status`, 'utf8');
  } catch {
    return base;
  }
  const ids = (name: string) => (new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').split(/\s+/);
  const [uidFs, gidFs] = [ids('Uid')[3], ids('Gid')[3]];
  if (Number(uidFs) !== caller.uid || Number(gidFs) !== caller.gid) return base;
  return { ...base, groups: ids('Groups').filter(Boolean).map(Number) };
}

export class AccessGuard {
  private on = false;
  private offTimer?: NodeJS.Timeout;

  /** `changed` is told when the guard turns off by itself (after the grace period). */
  constructor(
    private readonly backing: Backing,
    private readonly changed: () => void,
  ) {}

  get enabled(): boolean {
    return this.on;
  }

  /** Follows the active rules: on at once, off GRACE_MS after the last access-changing rule left. */
  update(rules: readonly Rule[]): void {
    if (rules.some(changesAccess)) {
      clearTimeout(this.offTimer);
      this.offTimer = undefined;
      this.on = true;
    } else if (this.on && !this.offTimer) {
      this.offTimer = setTimeout(() => {
        this.offTimer = undefined;
        this.on = false;
        this.changed();
      }, GRACE_MS).unref();
    }
  }

  close(): void {
    clearTimeout(this.offTimer);
  }

  /** The caller's credentials when the guard is on, else null. Call synchronously at the handler's start. */
  who(caller: Caller | null | undefined): Credentials | null {
    if (!this.on) return null;
    // No caller named (fuse_get_context gave none): refuse rather than act as root.
    return caller ? credentialsOf(caller) : { uid: -2, gid: -2, groups: [] };
  }

  /** Search permission on the volume root and every directory above `fusePath`, as a path walk needs. */
  async walk(who: Credentials, fusePath: string): Promise<void> {
    const parts = split(fusePath);
    for (let i = 0; i < parts.length; i++) {
      const lease = await this.backing.directory(parts.slice(0, i));
      try {
        deny(mayAccess(who, await stat(lease.dir), X));
      } finally {
        lease.release();
      }
    }
  }

  /** The real attributes of the name at `fusePath`, or null when it does not exist. */
  async stat(fusePath: string): Promise<RealStat | null> {
    const at = await this.backing.locate(fusePath);
    try {
      return await lstat(at.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /** The real attributes of the directory that holds `fusePath`. */
  async parent(fusePath: string): Promise<RealStat> {
    const parts = split(fusePath);
    const lease = await this.backing.directory(parts.slice(0, -1));
    try {
      return await stat(lease.dir);
    } finally {
      lease.release();
    }
  }
}

/** Throws the refusal for a non-zero decision. */
export function deny(errno: number): void {
  if (errno) throw new Refusal(-errno);
}
