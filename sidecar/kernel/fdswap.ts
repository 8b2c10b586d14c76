/**
 * Replace a running process's open files (and cwd) under PATH on one mount by the same files on
 * another mount, with ptrace. Wraps native/out/iochaos-fdswap.
 */
import { fromHelperString, HELPER_EXIT, NativeHelperError, runHelper } from './native-helper';

/** Where files are: PATH as process `rootOf` sees it now, a directory path, or a mount id. */
export type MountSpec = { rootOf: number } | { dir: string } | { mntId: number };

export interface SwapFdsOptions {
  pids: readonly number[];
  /** Canonical absolute path, as the targets see it. */
  path: string;
  /** The mount the fds are on now (A). */
  from: MountSpec;
  /** A directory that is PATH on the mount to move to (B). */
  to: { rootOf: number } | { dir: string };
  /**
   * The ChaosFS worker's pid: files the app holds are found among the backing fds it holds open (by
   * inode), which survives renames, unlinks and dropped dentries. Without it (or when no backing fd
   * matches), by path beneath `to`, checked to be the same inode.
   */
  backingOf?: number;
  /** Longest wait for one thread to stop (ms); default 5000. */
  stopTimeoutMs?: number;
  /** Most fds per stop (default: as many as the fd limits allow). */
  maxBatch?: number;
}

export interface SwappedFd {
  /** An fd number, the cwd, or a file mapping (`addr` says which). */
  fd: number | 'cwd' | 'mmap';
  path: string;
  /** f_flags in octal, as fdinfo shows them (without O_CLOEXEC). */
  flags?: string;
  cloexec?: boolean;
  pos?: number;
  /** Inode number of the file (the same on both sides: ChaosFS shows the backing inode numbers). */
  ino?: number;
  /** How the file was found on the new side: among the worker's backing fds, or by path + inode check. */
  via?: 'backing' | 'path';
  /** Mappings: the address range in the target ("7f00-7f10", hex) and whether it is MAP_SHARED. */
  addr?: string;
  shared?: boolean;
}

export interface SkippedFd {
  fd: number | 'cwd' | 'root' | 'mmap';
  path: string;
  reason: string;
  /** The fd (or cwd, root, mapping) is on the from-mount and stays there: a failure, not a choice. */
  failed?: boolean;
  ino?: number;
  addr?: string;
}

export type ProcessSwapStatus = 'swapped' | 'nothing to swap' | 'exited' | 'failed';

export interface ProcessSwapReport {
  pid: number;
  status: ProcessSwapStatus;
  error?: string;
  threads: number;
  /** Time every thread was stopped, summed over batches (µs). */
  pauseUs: number;
  /** Longest single all-threads stop (µs). */
  pauseMaxUs: number;
  /** Time the one thread we run code in was stopped, first to last (µs). */
  hijackUs: number;
  batches: number;
  stopUs: number;
  checkUs: number;
  dupUs: number;
  swapped: SwappedFd[];
  skipped: SkippedFd[];
  /** How many of `skipped` are failures (left on the from-mount). */
  failedFds: number;
}

export interface SwapReport {
  path: string;
  fromMntId: number;
  toMntId: number;
  processes: ProcessSwapReport[];
}

/** Some process could not be swapped; `report` says which and what was done for the others. */
export class FdSwapPartialError extends NativeHelperError {
  constructor(readonly report: SwapReport) {
    const failed = report.processes.filter((p) => p.status === 'failed');
    super(
      'iochaos-fdswap',
      HELPER_EXIT.partial,
      failed.map((p) => `pid ${p.pid}: ${p.error ?? 'failed'}`).join('; '),
      report,
    );
    this.name = 'FdSwapPartialError';
  }
}

function spec(s: MountSpec): string {
  if ('rootOf' in s) return `root:${s.rootOf}`;
  if ('dir' in s) return `dir:${s.dir}`;
  return `mnt:${s.mntId}`;
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? 0);
}

function processReport(j: Record<string, unknown>): ProcessSwapReport {
  const swapped = (j.swapped as Record<string, unknown>[]).map((s): SwappedFd => ({
    fd: s.fd as SwappedFd['fd'],
    path: fromHelperString(String(s.path)),
    ...(s.flags !== undefined
      ? { flags: String(s.flags), cloexec: s.cloexec === true, pos: num(s.pos) }
      : {}),
    ...(s.ino !== undefined ? { ino: num(s.ino) } : {}),
    ...(s.via === 'backing' || s.via === 'path' ? { via: s.via as SwappedFd['via'] } : {}),
    ...(typeof s.addr === 'string' ? { addr: s.addr, shared: s.shared === true } : {}),
  }));
  const skipped = (j.skipped as Record<string, unknown>[]).map((s) => ({
    fd: s.fd as SkippedFd['fd'],
    path: fromHelperString(String(s.path)),
    reason: String(s.reason),
    ...(s.failed === true ? { failed: true } : {}),
    ...(s.ino !== undefined ? { ino: num(s.ino) } : {}),
    ...(typeof s.addr === 'string' ? { addr: s.addr } : {}),
  }));
  return {
    pid: num(j.pid),
    status: j.status as ProcessSwapStatus,
    ...(typeof j.error === 'string' ? { error: j.error } : {}),
    threads: num(j.threads),
    pauseUs: num(j.pause_us),
    pauseMaxUs: num(j.pause_max_us),
    hijackUs: num(j.hijack_us),
    batches: num(j.batches),
    stopUs: num(j.stop_us),
    checkUs: num(j.check_us),
    dupUs: num(j.dup_us),
    swapped,
    skipped,
    failedFds: skipped.filter((s) => s.failed).length,
  };
}

/**
 * Swaps every qualifying fd, cwd and file mapping of each pid from `from` to `to`, by identity: the
 * counterpart must be the same inode (found among the worker's backing fds with `backingOf`, else by
 * path and checked), opened with the target's credentials. Resolves with the report when every
 * process was swapped, had nothing to swap, or exited — single fds that could not be moved are in
 * `skipped` with `failed: true` (counted in `failedFds`); rejects with FdSwapPartialError (carrying
 * the report) when some process failed — those were left as they were — and NativeHelperError when
 * the request itself was refused.
 */
export async function swapFds(o: SwapFdsOptions): Promise<SwapReport> {
  const args = ['--path', o.path, '--from', spec(o.from), '--to', spec(o.to)];
  for (const pid of o.pids) args.push('--pid', String(pid));
  if (o.backingOf !== undefined) args.push('--backing-of', String(o.backingOf));
  if (o.stopTimeoutMs !== undefined) args.push('--timeout-ms', String(o.stopTimeoutMs));
  if (o.maxBatch !== undefined) args.push('--max-batch', String(o.maxBatch));
  const { code, json } = await runHelper('iochaos-fdswap', args, { okCodes: [0, HELPER_EXIT.partial] });
  const report: SwapReport = {
    path: String(json.path),
    fromMntId: num(json.from_mnt_id),
    toMntId: num(json.to_mnt_id),
    processes: (json.processes as Record<string, unknown>[]).map(processReport),
  };
  if (code === HELPER_EXIT.partial) throw new FdSwapPartialError(report);
  return report;
}
