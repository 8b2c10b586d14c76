/**
 * The steps of an injection that touch the world outside the daemon — the ChaosFS worker (FUSE) and
 * the kernel (native/ helpers, through sidecar/kernel/ wrappers) — as one interface: the daemon's
 * steps read as a sequence, native-steps.ts does them for real, and the daemon's unit tests
 * (daemon.unit.test.ts) run it against fake ones, without root or /dev/fuse.
 */
import type { StartedWorker, WorkerOptions } from './worker';

export interface SwapSummary {
  /** Fds (and cwds) moved, over every process. */
  swapped: number;
  /** Fds left alone (sockets, pipes, deleted files, mmaps), over every process. */
  skipped: number;
  /** The longest time any process had every thread stopped, in µs. */
  maxPauseUs: number;
  /** Processes that could not be swapped (left as they were), with why. */
  failed: string[];
}

export interface Attached {
  /** The ChaosFS mount's id in the target's namespace. */
  mntId: number;
  /** The mount the volume was on before (now underneath). */
  belowMntId: number;
}

export interface InjectionSteps {
  /**
   * Starts the ChaosFS worker over `source`, mounted at `staging` (daemon's namespace), serving the
   * control protocol on `socket`; resolves once it answers there.
   */
  startWorker(opts: WorkerOptions): Promise<StartedWorker>;
  /** Puts the FUSE mount at `staging` (daemon's namespace) over volumePath in nsPid's namespace. */
  attach(nsPid: number, volumePath: string, staging: string): Promise<Attached>;
  /** Moves the targets' fds and cwds under volumePath from mount `fromMntId` onto what nsPid sees there now. */
  swapIn(pids: number[], volumePath: string, fromMntId: number, nsPid: number): Promise<SwapSummary>;
  /**
   * Moves those on the ChaosFS mount back onto the original volume, reached through `originalRoot`.
   * With `backingOf` (a live worker's pid) each file is found through the worker's backing fd, by
   * identity, so a renamed, unlinked or unreachable path does not matter.
   */
  swapOut(
    pids: number[],
    volumePath: string,
    fuseMntId: number,
    originalRoot: string,
    backingOf?: number,
  ): Promise<SwapSummary>;
  /** Takes the ChaosFS mount off volumePath in nsPid's namespace; done if it is already gone. */
  detach(nsPid: number, volumePath: string, fuseMntId: number): Promise<void>;
  /** Lazily unmounts the staging mount if it is still there (a crashed worker leaves it). */
  unmountStaging(staging: string): Promise<void>;
}
