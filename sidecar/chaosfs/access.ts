/**
 * POSIX access decisions on a file's REAL attributes, as pure functions of (caller, real stat,
 * request). Each answers 0 (allowed) or a positive errno (EACCES / EPERM).
 *
 * Why they exist: the mount uses `default_permissions`, so the kernel checks the app against the
 * attributes ChaosFS reports, and an `attrOverride` rule changes those (a root 0600 file reported
 * 0666, or owned by the app). The privileged worker then performs the real operation. While such a
 * rule is active, ChaosFS therefore asks these functions again with the backing file's own
 * attributes (guard.ts), so an override changes what `stat` says and nothing else.
 * The rules are the kernel's (generic_permission, may_delete, chown_ok, setattr_prepare,
 * xattr_permission, may_linkat with protected_hardlinks=1): uid 0 is treated as having
 * CAP_DAC_OVERRIDE, CAP_FOWNER and CAP_CHOWN (the worker cannot see a caller's capabilities cheaply;
 * the kernel already checked them against the caller for what does not depend on attributes).
 */
import * as os from 'node:os';

const { EACCES, EPERM } = os.constants.errno;

export const R = 4;
export const W = 2;
export const X = 1;

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_ISVTX = 0o1000;
const S_IXGRP = 0o010;

/** Who makes the call: the caller's fsuid, fsgid and supplementary groups. */
export interface Credentials {
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
}

/** The real attributes a decision needs. */
export interface RealStat {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

const isRoot = (who: Credentials) => who.uid === 0;
const isDir = (st: RealStat) => (st.mode & S_IFMT) === S_IFDIR;
const isReg = (st: RealStat) => (st.mode & S_IFMT) === S_IFREG;
const owns = (who: Credentials, st: RealStat) => who.uid === st.uid;
const inGroup = (who: Credentials, gid: number) => who.gid === gid || who.groups.includes(gid);

/** generic_permission: `want` is a mask of R, W, X. */
export function mayAccess(who: Credentials, st: RealStat, want: number): number {
  if (isRoot(who)) {
    // Root may read and write anything, and search any directory; it may execute a file only if
    // someone may.
    if (want & X && !isDir(st) && (st.mode & 0o111) === 0) return EACCES;
    return 0;
  }
  const bits = owns(who, st) ? (st.mode >> 6) & 7 : inGroup(who, st.gid) ? (st.mode >> 3) & 7 : st.mode & 7;
  return (bits & want) === want ? 0 : EACCES;
}

/** Removing or replacing `victim` in directory `dir` (unlink, rmdir, rename's source and target). */
export function mayDelete(who: Credentials, dir: RealStat, victim: RealStat): number {
  const e = mayAccess(who, dir, W | X);
  if (e) return e;
  if (dir.mode & S_ISVTX && !isRoot(who) && !owns(who, dir) && !owns(who, victim)) return EPERM;
  return 0;
}

/** Creating a name in directory `dir` (create, mkdir, mknod, symlink, link's and rename's target). */
export function mayCreateIn(who: Credentials, dir: RealStat): number {
  return mayAccess(who, dir, W | X);
}

/** open(2)'s access mode and O_TRUNC, on the file itself. */
export function mayOpen(who: Credentials, st: RealStat, flags: number): number {
  const accmode = flags & 3;
  let want = 0;
  if (accmode === 0 || accmode === 2) want |= R;
  if (accmode === 1 || accmode === 2 || flags & 0o1000 /* O_TRUNC */) want |= W;
  return mayAccess(who, st, want);
}

/**
 * chmod(2): only the owner or root; a caller outside the file's group cannot set S_ISGID (the kernel
 * silently drops it). Returns the mode to apply, or an errno.
 */
export function mayChmod(who: Credentials, st: RealStat, mode: number): { mode: number } | { errno: number } {
  if (!isRoot(who) && !owns(who, st)) {
    // Clearing the set-id bits is always safe: it is what the kernel asks for itself when a
    // non-owner writes to a set-id file.
    const cleared = st.mode & ~(S_ISUID | S_ISGID) & 0o7777;
    if ((mode & 0o7777) === cleared) return { mode };
    return { errno: EPERM };
  }
  if (!isRoot(who) && !inGroup(who, st.gid)) return { mode: mode & ~S_ISGID };
  return { mode };
}

/** chown(2) (chown_ok, chgrp_ok): -1 leaves an id as it is. */
export function mayChown(who: Credentials, st: RealStat, uid: number, gid: number): number {
  if (isRoot(who)) return 0;
  if (uid !== -1 && (!owns(who, st) || uid !== st.uid)) return EPERM;
  if (gid !== -1 && (!owns(who, st) || (gid !== st.gid && !inGroup(who, gid)))) return EPERM;
  return 0;
}

/** utimensat(2): explicit times need the owner (or root); "now" also allows anyone who may write. */
export function mayUtimens(who: Credentials, st: RealStat, explicit: boolean): number {
  if (isRoot(who) || owns(who, st)) return 0;
  if (explicit) return EPERM;
  return mayAccess(who, st, W);
}

/** link(2) with fs.protected_hardlinks=1: a non-owner may only link a regular, non-set-id file it may read and write. */
export function mayLink(who: Credentials, st: RealStat): number {
  if (isRoot(who) || owns(who, st)) return 0;
  if (!isReg(st) || st.mode & S_ISUID || (st.mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP))
    return EPERM;
  return mayAccess(who, st, R | W) ? EPERM : 0;
}

/** xattr_permission: `write` for set and remove, else get. */
export function mayXattr(who: Credentials, st: RealStat, name: string, write: boolean): number {
  if (name.startsWith('user.')) {
    if (!isReg(st) && !isDir(st)) return write ? EPERM : 0;
    return mayAccess(who, st, write ? W : R);
  }
  if (name.startsWith('system.posix_acl_')) return !write || isRoot(who) || owns(who, st) ? 0 : EPERM;
  if (name.startsWith('trusted.') || (write && name.startsWith('security.'))) return isRoot(who) ? 0 : EPERM;
  return 0;
}

/**
 * The set-id bits a write or truncate by this caller must clear (the kernel's should_remove_suid):
 * S_ISUID always, S_ISGID when group-executable; never for root. 0 when nothing is to clear.
 */
export function setidToClear(who: Credentials, st: RealStat): number {
  if (isRoot(who) || !isReg(st)) return 0;
  let bits = st.mode & S_ISUID;
  if ((st.mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) bits |= S_ISGID;
  return bits;
}
