/**
 * Who can see an injected volume, found at the moment it matters (inject, recover, the check after
 * recovery), never remembered from earlier: processes fork, exit and open files all the time.
 *
 * - the processes of a mount namespace, named by its identity (st_dev + st_ino of /proc/P/ns/mnt),
 *   which outlives any one process of it;
 * - the processes of a container (its id as a whole component of /proc/P/cgroup);
 * - every process on the host holding something on a given mount: an fd (fdinfo `mnt_id`), its cwd
 *   or root (opened O_PATH, then our own fdinfo), or a mapping (/proc/P/map_files, the same way).
 *
 * Nothing here follows a path the app controls: the /proc magic links are opened O_PATH, which walks
 * to the very file the process holds and asks no file system anything (a dead FUSE mount answers
 * ENOTCONN to everything else).
 */
import * as fs from 'node:fs';
import { O_PATH } from '../chaosfs/backing';

/** A mount namespace's identity: the inode of its nsfs file. */
export interface NamespaceId {
  dev: number;
  ino: number;
}

/** What one process holds on a mount. */
export interface Hold {
  pid: number;
  what: 'fd' | 'cwd' | 'root' | 'map';
  /** The fd number (for `fd`), or the mapping's address range (for `map`). */
  at?: number | string;
  /** As /proc shows it (for a file on a detached mount, the path within that mount). */
  path: string;
  /** Why it could not be moved, when that can be told from /proc. */
  why?: string;
}

export function allPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

export function isAlive(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}`);
}

export function namespaceOf(pid: number): NamespaceId | undefined {
  try {
    const st = fs.statSync(`/proc/${pid}/ns/mnt`);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

export function sameNamespace(a: NamespaceId | undefined, b: NamespaceId | undefined): boolean {
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
}

/** Every live process of the namespace, but those in `exclude` (the daemon and its workers). */
export function processesOfNamespace(ns: NamespaceId, exclude: ReadonlySet<number> = new Set()): number[] {
  return allPids().filter((p) => !exclude.has(p) && sameNamespace(namespaceOf(p), ns));
}

/** One live process of the namespace, `preferred` if it still is one. */
export function anyProcessOf(
  ns: NamespaceId,
  preferred?: number,
  exclude?: ReadonlySet<number>,
): number | undefined {
  if (preferred !== undefined && !exclude?.has(preferred) && sameNamespace(namespaceOf(preferred), ns)) {
    return preferred;
  }
  return processesOfNamespace(ns, exclude)[0];
}

/** A container id as runtimes give it (`containerd://<64 hex>`), checked and without the scheme. */
export function containerIdOf(given: string): string | undefined {
  const id = given.replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  return /^[0-9a-f]{64}$/.test(id) ? id : undefined;
}

/**
 * A cgroup path component that names container `id`: the id itself (cgroupfs drivers) or a runtime's
 * scope around it (`cri-containerd-<id>.scope`, `docker-<id>.scope`, `libpod-<id>`). The id must be the
 * whole token: a substring of a longer name is another container.
 */
function namesContainer(component: string, id: string): boolean {
  if (component === id) return true;
  const at = component.indexOf(id);
  if (at <= 0) return false;
  const rest = component.slice(at + id.length);
  return /[-_:]$/.test(component.slice(0, at)) && (rest === '' || rest === '.scope');
}

export function inContainer(pid: number, id: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return false;
  }
  return text.split('\n').some((line) => {
    const cgroupPath = line.split(':').slice(2).join(':');
    return cgroupPath.split('/').some((c) => namesContainer(c, id));
  });
}

export function processesOfContainer(id: string, exclude: ReadonlySet<number> = new Set()): number[] {
  return allPids().filter((p) => !exclude.has(p) && inContainer(p, id));
}

/** The `mnt_id:` of an fdinfo file, or undefined when it is gone. */
function fdinfoMountId(fdinfo: string): number | undefined {
  const m = /^mnt_id:\s*(\d+)/m.exec(readOr(fdinfo));
  return m ? Number(m[1]) : undefined;
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Why an fd cannot be moved, when its fdinfo says: a POSIX lock belongs to the process and any close
 * of an fd of its file lets it go, so fdswap leaves such an fd until the lock is let go (a flock or
 * OFD lock moves with its fd).
 */
function whyHeld(fdinfo: string): string | undefined {
  return /^lock:.*\bPOSIX\b/m.test(readOr(fdinfo))
    ? 'holds a POSIX lock, which cannot move with its fd: it moves once the lock is let go'
    : undefined;
}

/** The mount a /proc magic link (cwd, root, map_files/...) leads to, without touching that file system. */
function magicLinkMountId(link: string): number | undefined {
  let fd: number;
  try {
    fd = fs.openSync(link, O_PATH);
  } catch {
    return undefined;
  }
  try {
    return fdinfoMountId(`/proc/self/fdinfo/${fd}`);
  } finally {
    fs.closeSync(fd);
  }
}

/** The mount one of our own fds is on. */
export function mountIdOfFd(fd: number): number | undefined {
  return fdinfoMountId(`/proc/self/fdinfo/${fd}`);
}

function readlinkOr(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    return undefined;
  }
}

/** Links that are never files on a mount. */
const NOT_A_FILE = /^(socket|pipe|anon_inode):/;

function holdsOf(pid: number, mntIds: ReadonlySet<number>, devs: ReadonlySet<string>): Hold[] {
  const found: Hold[] = [];
  let fds: string[] = [];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return found; // exited, or a zombie
  }
  for (const fd of fds) {
    const link = readlinkOr(`/proc/${pid}/fd/${fd}`);
    if (link === undefined || NOT_A_FILE.test(link)) continue;
    const mnt = fdinfoMountId(`/proc/${pid}/fdinfo/${fd}`);
    if (mnt !== undefined && mntIds.has(mnt)) {
      found.push({ pid, what: 'fd', at: Number(fd), path: link, why: whyHeld(`/proc/${pid}/fdinfo/${fd}`) });
    }
  }
  for (const what of ['cwd', 'root'] as const) {
    const mnt = magicLinkMountId(`/proc/${pid}/${what}`);
    if (mnt !== undefined && mntIds.has(mnt)) {
      found.push({ pid, what, path: readlinkOr(`/proc/${pid}/${what}`) ?? '?' });
    }
  }
  // Mappings: /proc/P/maps names the device of each mapped file; only those on the mount's device
  // are opened through map_files to learn their mount.
  let maps = '';
  try {
    maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch {
    return found;
  }
  const seen = new Set<string>();
  for (const line of maps.split('\n')) {
    const f = line.split(/\s+/);
    if (f.length < 6 || f[4] === '0' || !devs.has(decimalDev(f[3]))) continue;
    const mnt = magicLinkMountId(`/proc/${pid}/map_files/${f[0]}`);
    const file = f.slice(5).join(' ');
    if (mnt !== undefined && mntIds.has(mnt) && !seen.has(file)) {
      seen.add(file);
      found.push({ pid, what: 'map', at: f[0], path: file });
    }
  }
  return found;
}

/** maps writes devices as hex `MM:mm`; mountinfo as decimal `M:m`. */
function decimalDev(hex: string): string {
  const [major, minor] = hex.split(':');
  return `${parseInt(major, 16)}:${parseInt(minor, 16)}`;
}

/**
 * Everything any process on the host holds on one of `mntIds`. `devs` are those mounts' devices
 * (mountinfo's `major:minor`), to find mappings cheaply; without them mappings are not looked at.
 */
export function holdersOf(
  mntIds: ReadonlySet<number>,
  devs: ReadonlySet<string> = new Set(),
  pids: readonly number[] = allPids(),
): Hold[] {
  if (mntIds.size === 0) return [];
  return pids.filter((p) => p !== process.pid).flatMap((p) => holdsOf(p, mntIds, devs));
}

export function describeHold(h: Hold): string {
  const where = h.what === 'fd' ? `fd ${h.at}` : h.what === 'map' ? `mapping ${h.at}` : h.what;
  return `pid ${h.pid} ${where} ${h.path}${h.why ? ` (${h.why})` : ''}`;
}
