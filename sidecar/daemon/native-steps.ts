/** The daemon's kernel steps, done by the native helpers (see native/README.md). */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { attachMount, detachMount } from '../kernel/mount';
import { setTimeout as sleep } from 'node:timers/promises';
import { FdSwapPartialError, swapFds, type SwapReport } from '../kernel/fdswap';
import type { Attached, InjectionSteps, SwapSummary } from './steps';
import { mounts } from './mount-table';
import { startWorker, type StartedWorker, type WorkerOptions } from './worker';

const run = promisify(execFile);

function summarize(report: SwapReport): SwapSummary {
  let swapped = 0;
  let skipped = 0;
  let maxPauseUs = 0;
  const failed: string[] = [];
  for (const p of report.processes) {
    swapped += p.swapped.length;
    skipped += p.skipped.length;
    maxPauseUs = Math.max(maxPauseUs, p.pauseMaxUs);
    if (p.status === 'failed') failed.push(`pid ${p.pid}: ${p.error ?? 'failed'}`);
    // A process the helper calls swapped can still have fds it could not move (no identical file on
    // the other mount, an fd the app's own credentials cannot reopen): each is a failure, by name.
    for (const s of p.skipped) if (s.failed) failed.push(`pid ${p.pid} fd ${s.fd} ${s.path}: ${s.reason}`);
  }
  return { swapped, skipped, maxPauseUs, failed };
}

/** A process that could not be swapped was left as it was: report it, do not abort the others. */
async function swapOnce(o: Parameters<typeof swapFds>[0]): Promise<SwapReport> {
  try {
    return await swapFds(o);
  } catch (err) {
    if (err instanceof FdSwapPartialError) return err.report;
    throw err;
  }
}

/**
 * How long a swap waits for file locks to be let go. Databases hold their record locks only for a
 * transaction (SQLite: each one), so a moment later the fd can move; a lock held longer (a daemon's
 * pid-file flock) is a failure by name, as before.
 */
const LOCK_WAIT_MS = 3000;
const LOCK_RETRY_MS = 20;

/** A process whose only failures are fds holding file locks: worth another try in a moment. */
const onlyLocked = (p: SwapReport['processes'][number]) => {
  const failed = p.skipped.filter((s) => s.failed);
  return p.status !== 'failed' && failed.length > 0 && failed.every((s) => /holds file locks/.test(s.reason));
};

/** Swaps, then swaps again (the fds already moved are skipped) the processes only a lock held back. */
async function swap(o: Parameters<typeof swapFds>[0]): Promise<SwapSummary> {
  if (o.pids.length === 0) return { swapped: 0, skipped: 0, maxPauseUs: 0, failed: [] };
  const first = await swapOnce(o);
  const done = first.processes.filter((p) => !onlyLocked(p));
  let waiting = first.processes.filter(onlyLocked);
  const deadline = Date.now() + LOCK_WAIT_MS;
  while (waiting.length > 0 && Date.now() < deadline) {
    await sleep(LOCK_RETRY_MS);
    const again = await swapOnce({ ...o, pids: waiting.map((p) => p.pid) });
    // The earlier pass's moves count too: this pass skips them as already on the new mount.
    for (const p of again.processes) {
      const earlier = waiting.find((w) => w.pid === p.pid);
      if (earlier) p.swapped = [...earlier.swapped, ...p.swapped];
    }
    done.push(...again.processes.filter((p) => !onlyLocked(p)));
    waiting = again.processes.filter(onlyLocked);
  }
  return summarize({ ...first, processes: [...done, ...waiting] });
}

export class NativeSteps implements InjectionSteps {
  startWorker(opts: WorkerOptions): Promise<StartedWorker> {
    return startWorker(opts);
  }

  async attach(nsPid: number, volumePath: string, staging: string): Promise<Attached> {
    const r = await attachMount({ pid: nsPid, path: volumePath, source: staging });
    return { mntId: r.mntId, belowMntId: r.belowMntId };
  }

  swapIn(pids: number[], volumePath: string, fromMntId: number, nsPid: number): Promise<SwapSummary> {
    return swap({ pids, path: volumePath, from: { mntId: fromMntId }, to: { rootOf: nsPid } });
  }

  swapOut(
    pids: number[],
    volumePath: string,
    fuseMntId: number,
    originalRoot: string,
    backingOf?: number,
  ): Promise<SwapSummary> {
    return swap({ pids, path: volumePath, from: { mntId: fuseMntId }, to: { dir: originalRoot }, backingOf });
  }

  async detach(nsPid: number, volumePath: string, fuseMntId: number): Promise<void> {
    try {
      await detachMount({ pid: nsPid, path: volumePath, mntId: fuseMntId });
    } catch (err) {
      // Something still holds a file on it (an fd fdswap had to leave, an mmap): detach it lazily so
      // the app's path is its own again; the holder keeps working until the worker stops.
      if (!/EBUSY|busy/i.test(String((err as Error).message))) throw err;
      await detachMount({ pid: nsPid, path: volumePath, mntId: fuseMntId, lazy: true });
    }
  }

  async unmountStaging(staging: string): Promise<void> {
    if (mounts('self').some((m) => m.mountpoint === staging)) await run('umount', ['-l', staging]);
    fs.rmSync(staging, { recursive: true, force: true });
  }
}
