/**
 * When the access guard must be on: while an attrOverride rule could mislead the kernel's
 * `default_permissions` check (it reads the uid, gid, mode ChaosFS reports). While on, the binding
 * serves every call with the caller's fs uid, gid and supplementary groups (native/fuse-native
 * src/guard.c), so the backing checks the REAL attributes, and the kernel caches nothing, so every
 * path walk reaches the backing one name at a time.
 *
 * Cost: nothing while no such rule is on. The guard stays on for GRACE_MS after the last such rule
 * goes, because the kernel may still act on an overridden attribute it was given just before (a reply
 * is fresh for the rest of the jiffy it came in, and a check and the request that follows it are not
 * atomic).
 */
import type { Rule } from '../api/fault-spec';

const GRACE_MS = 1000;

/** Whether a rule changes attributes the kernel's permission check reads. */
export function changesAccess(rule: Rule): boolean {
  if (rule.action !== 'attrOverride') return false;
  const a = rule.attr;
  return a.uid !== undefined || a.gid !== undefined || a.perm !== undefined || a.kind !== undefined;
}

export class AccessGuard {
  private on = false;
  private offTimer?: NodeJS.Timeout;

  /** `set` applies the guard (before the rules that need it); it is also told when the grace ends. */
  constructor(private readonly set: (on: boolean) => void) {}

  get enabled(): boolean {
    return this.on;
  }

  /** Follows the active rules: on at once, off GRACE_MS after the last access-changing rule left. */
  update(rules: readonly Rule[]): void {
    if (rules.some(changesAccess)) {
      clearTimeout(this.offTimer);
      this.offTimer = undefined;
      if (!this.on) this.set((this.on = true));
    } else if (this.on && !this.offTimer) {
      this.offTimer = setTimeout(() => {
        this.offTimer = undefined;
        this.set((this.on = false));
      }, GRACE_MS).unref();
    }
  }

  close(): void {
    clearTimeout(this.offTimer);
  }
}
