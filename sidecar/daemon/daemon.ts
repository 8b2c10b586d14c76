/**
 * The chaosfs daemon: holds every injection on its host (or in its pod), answers the control socket,
 * and recovers: when a duration ends, when a worker dies, when the targets are gone, on SIGTERM, and —
 * from the journal — after it was itself killed.
 *
 * inject:  resolve target -> start worker over the original volume (no rules yet) -> attach the ChaosFS
 *          mount over volumePath in the target's mount namespace -> swap the target's open fds onto it
 *          -> turn the rules on.
 * recover: rules off -> detach the ChaosFS mount (lazily) -> swap every fd on it back onto the original -> stop the
 *          worker -> verify: nothing of any process on the ChaosFS mount, no ChaosFS mount left at the
 *          volume, the target's mount table what it was. What is left keeps the injection open
 *          (`recover-incomplete`) and is named in the reply; a later recover retries.
 * An injection belongs to the target's mount namespace, not to the process the user named: every step
 * finds the namespace's processes (and anything holding a file on the ChaosFS mount) anew.
 * Every step is journaled before it is taken, and every recovery step is idempotent.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ControlError,
  type ControlRequest,
  type MetricsResult,
  type OpCalls,
  type RuleEffect,
  type Target,
} from '../api/control';
import { parseRules, type RuleInput } from '../api/fault-spec';
import { request } from '../control/client';
import type { RuleStatus } from '../faults/rule-set';
import type { InjectionSteps, SwapSummary } from './steps';
import { Journal, type InjectionRecord } from './journal';
import { mountTable, mountTableDiff, mounts } from './mount-table';
import { FS_TYPE } from '../chaosfs/chaosfs';
import { namespaceOfTarget, resolveTarget, targetProcesses } from './targets';
import {
  anyProcessOf,
  describeHold,
  holdersOf,
  isAlive,
  mountIdOfFd,
  namespaceOf,
  sameNamespace,
  type NamespaceId,
} from './holders';
import { isWorker, startTimeOf, stopWorker } from './worker';
import { openDirInRoot } from '../chaosfs/syscalls';
import { RuleExpiry, withIds, type ExpiringRuleStatus } from './rule-expiry';
import { refuseHostWide } from './request-checks';
import { DEFAULT_HINT_AFTER_MS, ruleHint } from './effect';
import { metricsText, METRICS_CONTENT_TYPE } from './metrics';

export interface DaemonOptions {
  stateDir: string;
  /** Where worker sockets and staging mounts live (in the daemon's own mount namespace). */
  runDir: string;
  steps: InjectionSteps;
  log: (event: string, fields?: Record<string, unknown>) => void;
  /** How long a rule may match nothing before status hints at why (effect.ts); default 30 s. */
  hintAfterMs?: number;
}

interface Live {
  record: InjectionRecord;
  /** An O_PATH fd of the original volume, opened before ChaosFS covers it: swap-back goes there. */
  originalFd?: number;
  /** Takes each rule off when its duration ends, and recovers with the last one. */
  expiry?: RuleExpiry;
  /** Resolves with what is left after recovery (empty: nothing, the injection is closed). */
  recovering?: Promise<string[]>;
  lastSwap?: SwapSummary;
  /** When each rule (by id) was set, in ms: its age for status, and the start of its hint's clock. */
  setAt: Map<string, number>;
}

export interface InjectionStatus {
  id: string;
  target: Target;
  volumePath: string;
  pids: number[];
  startedAt: string;
  endsAt?: string;
  state: InjectionRecord['step'];
  rules: (ExpiringRuleStatus & RuleEffect)[];
  /** Per op, the calls the app made on the volume since the injection (absent when the worker is not up). */
  calls?: OpCalls;
  swapped?: number;
  skipped?: number;
  /** The longest the target was stopped by the fd swap, in µs. */
  pauseUs?: number;
  /** After an incomplete recovery: what is left (pid, fd, path; mounts). */
  left?: string[];
}

/**
 * Failpoints, as etcd's gofail: with IOCHAOS_FAILPOINT=<name> the daemon stops at that step (and says
 * so in its log), so a test can SIGKILL it exactly there and check what a restarted daemon does; with
 * IOCHAOS_FAILPOINT=<name>=error the step fails there instead, so a test sees the rollback.
 */
export const FAILPOINTS = [
  'inject:mounted',
  'inject:attached',
  'inject:swapped',
  'recover:rules-off',
  'recover:swapped-back',
] as const;
async function failpoint(name: (typeof FAILPOINTS)[number], log: DaemonOptions['log']): Promise<void> {
  const [at, mode] = (process.env.IOCHAOS_FAILPOINT ?? '').split('=');
  if (at !== name) return;
  log('failpoint', { name, mode });
  if (mode === 'error') throw new Error(`failpoint ${name}`);
  await new Promise(() => {});
}

const sameTarget = (a: Target, b: Target) => JSON.stringify(a) === JSON.stringify(b);

export class Daemon {
  private readonly journal: Journal;
  private readonly live = new Map<string, Live>();
  private readonly workers = new Set<number>();
  private watchdog?: NodeJS.Timeout;

  constructor(private readonly opts: DaemonOptions) {
    this.journal = new Journal(opts.stateDir);
  }

  /** Finishes the recovery of whatever the journal says is still on (after a crash or SIGKILL). */
  async recoverLeftovers(): Promise<number> {
    const leftovers = this.journal.replay().filter((r) => r.step !== 'recovered');
    for (const record of leftovers) {
      this.opts.log('recovering-leftover', { id: record.id, step: record.step });
      // Journals written before namespaces were recorded: the journaled process names it, if alive.
      record.mountNs ??= namespaceOf(record.nsPid);
      const live: Live = { record, setAt: new Map() };
      this.live.set(record.id, live);
      if (record.workerPid && this.workerAlive(record)) this.workers.add(record.workerPid);
      await this.recover(live, 'daemon restarted');
    }
    this.journal.compact();
    // Targets that exit and workers that die (re-adopted ones are not our children) are noticed here.
    this.watchdog = setInterval(() => this.watch(), 500).unref();
    return leftovers.length;
  }

  async handle(req: ControlRequest): Promise<unknown> {
    switch (req.op) {
      case 'health':
        return { healthy: true, role: 'daemon', pid: process.pid, injections: this.live.size };
      // Rules are validated here, then forwarded as given: the worker validates its own input, and
      // status shows "10ms" the way the user wrote it.
      case 'inject':
        return this.inject(req.target, req.volumePath, withIds(validRules(req.rules), [], req.duration), req);
      case 'update':
        return this.update(
          req.target,
          req.volumePath,
          validRules(req.rules),
          req.replace ?? true,
          req.dryRun,
        );
      case 'recover':
        return this.recoverRequested(req.target, req.volumePath, req.dryRun);
      case 'status':
        return { injections: await this.status(req.target) };
      case 'metrics':
        return {
          contentType: METRICS_CONTENT_TYPE,
          text: await metricsText(await this.status(req.target)),
        } satisfies MetricsResult;
      default:
        throw new ControlError('Unsupported', `"${req.op}" is for a single ChaosFS worker, not the daemon`);
    }
  }

  /**
   * The injections a target names: those of its mount namespace (any pid of it, or the container),
   * or, once no process of it is left, those made with that very target.
   */
  private matching(target: Target, volumePath?: string): Live[] {
    const ns = namespaceOfTarget(target, this.ownPids());
    return [...this.live.values()].filter(
      (l) =>
        l.record.step !== 'recovered' &&
        (sameNamespace(l.record.mountNs, ns) || sameTarget(l.record.target, target)) &&
        (volumePath === undefined || l.record.volumePath === volumePath),
    );
  }

  private async inject(
    target: Target,
    volumePath: string,
    rules: RuleInput[],
    opts: { allInNamespace?: boolean; dryRun?: boolean },
  ) {
    const resolved = resolveTarget(target, this.ownPids());
    for (const l of this.live.values()) {
      if (
        l.record.step !== 'recovered' &&
        sameNamespace(l.record.mountNs, resolved.mountNs) &&
        l.record.volumePath === volumePath
      ) {
        throw new ControlError(
          'Conflict',
          `${volumePath} is already injected for this target (${l.record.id}): use update to change its rules, or recover it first`,
        );
      }
    }
    const root = `/proc/${resolved.nsPid}/root`;
    checkVolumePath(root, volumePath);
    refuseHostWide(target, resolved, opts.allInNamespace ?? false);
    if (opts.dryRun) return { dryRun: true, target, volumePath, pids: resolved.pids, rules };

    const id = `inj-${randomBytes(4).toString('hex')}`;
    const now = Date.now();
    const record: InjectionRecord = {
      id,
      target,
      volumePath,
      nsPid: resolved.nsPid,
      mountNs: resolved.mountNs,
      containerId: resolved.containerId,
      pids: resolved.pids,
      rules,
      startedAt: new Date(now).toISOString(),
      workerSocket: path.join(this.opts.runDir, 'workers', `${id}.sock`),
      staging: path.join(this.opts.runDir, 'staging', id),
      mountsBefore: mountTable(resolved.nsPid, volumePath),
      step: 'begun',
    };
    const live: Live = { record, setAt: new Map() };
    this.live.set(id, live);
    this.journal.record(id, 'begun', record);
    this.opts.log('inject', { id, target, volumePath, pids: resolved.pids.length });
    try {
      // The one open of the target's volume: inside its root, no symlink followed (the lstat check
      // above gives the friendly message; this closes the race after it). The worker reaches the
      // volume through this fd, and recovery swaps fds back onto it.
      live.originalFd = openDirInRoot(root, volumePath);
      const worker = await this.opts.steps.startWorker({
        source: `/proc/${process.pid}/fd/${live.originalFd}`,
        staging: record.staging,
        socket: record.workerSocket,
        logFile: workerLog(this.opts.stateDir, id),
      });
      record.workerPid = worker.pid;
      record.workerStart = startTimeOf(worker.pid);
      this.workers.add(worker.pid);
      this.journal.record(id, 'worker', { workerPid: worker.pid, workerStart: record.workerStart });
      void worker.exited.then((code) => this.workerExited(live, code));
      const health = await this.workerRequest<{ backingRoot: string }>(record, { op: 'health' });
      record.backingRoot = health.backingRoot;
      this.journal.record(id, 'worker', { backingRoot: health.backingRoot });

      // Journaled before the step: a crash mid-attach leaves a record that makes recovery look.
      this.journal.record(id, 'attached');
      record.step = 'attached';
      const attached = await this.opts.steps.attach(record.nsPid, volumePath, record.staging);
      await failpoint('inject:mounted', this.opts.log);
      record.fuseMntId = attached.mntId;
      record.belowMntId = attached.belowMntId;
      record.fuseDev = mounts(record.nsPid).find((m) => m.id === attached.mntId)?.dev;
      this.journal.record(id, 'attached', {
        fuseMntId: attached.mntId,
        belowMntId: attached.belowMntId,
        fuseDev: record.fuseDev,
      });
      await failpoint('inject:attached', this.opts.log);

      this.journal.record(id, 'swapped');
      record.step = 'swapped';
      // Every process of the namespace now, not only those seen when the request came in.
      live.lastSwap = await this.opts.steps.swapIn(
        this.processes(record),
        volumePath,
        attached.belowMntId,
        record.nsPid,
      );
      if (live.lastSwap.failed.length > 0)
        throw new Error(`fd swap failed: ${live.lastSwap.failed.join('; ')}`);
      await failpoint('inject:swapped', this.opts.log);

      await this.workerRequest(record, { op: 'rules.set', rules, replace: true });
      markSet(live, rules, true);
      this.journal.record(id, 'active');
      record.step = 'active';
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.opts.log('inject-failed', { id, error: message });
      const left = await this.recover(live, `inject failed: ${message}`);
      throw new ControlError(
        'Internal',
        left.length === 0
          ? `injection into ${volumePath} failed and was rolled back: ${message}`
          : `injection into ${volumePath} failed (${message}) and its rollback is incomplete, still left:\n  ${left.join('\n  ')}`,
      );
    }
    live.expiry = new RuleExpiry((ruleId) => void this.expireRule(live, ruleId));
    live.expiry.schedule(rules);
    return this.describe(live);
  }

  private async update(
    target: Target,
    volumePath: string | undefined,
    given: RuleInput[],
    replace: boolean,
    dryRun?: boolean,
  ) {
    const found = this.matching(target, volumePath);
    if (found.length === 0) throw notInjected(target, volumePath);
    const replaced = new Set<string>();
    for (const l of found) {
      const rules = withIds(given, replace ? [] : l.record.rules);
      // As the worker does: an added rule replaces an active one with the same id.
      const ids = new Set(rules.map((r) => r.id));
      for (const r of l.record.rules) if (r.id !== undefined && ids.has(r.id)) replaced.add(r.id);
      if (dryRun) continue;
      await this.workerRequest(l.record, { op: 'rules.set', rules, replace });
      markSet(l, rules, replace);
      const kept = replace ? [] : l.record.rules.filter((r) => r.id === undefined || !ids.has(r.id));
      l.record.rules = [...kept, ...rules];
      this.journal.record(l.record.id, l.record.step, { rules: l.record.rules });
      if (replace) l.expiry?.cancel();
      l.expiry?.schedule(rules);
    }
    const injections = await Promise.all(found.map((l) => this.describe(l)));
    return { injections, replaced: [...replaced], ...(dryRun ? { dryRun: true } : {}) };
  }

  /** A rule's duration ended: it comes off; with the last one, the injection recovers. */
  private async expireRule(live: Live, ruleId: string): Promise<void> {
    if (live.recovering) return;
    const r = live.record;
    const rest = r.rules.filter((rule) => rule.id !== ruleId);
    this.opts.log('rule-expired', { id: r.id, rule: ruleId, left: rest.length });
    if (rest.length === 0) {
      await this.recover(live, `its last rule (${ruleId}) ended`);
      return;
    }
    try {
      await this.workerRequest(r, { op: 'rules.clear', ids: [ruleId] });
      r.rules = rest;
      live.setAt.delete(ruleId);
      this.journal.record(r.id, r.step, { rules: rest });
    } catch (err) {
      await this.recover(live, `rule ${ruleId} ended and could not be taken off: ${String(err)}`);
    }
  }

  private async recoverRequested(target: Target, volumePath?: string, dryRun?: boolean) {
    const found = this.matching(target, volumePath);
    if (found.length === 0) throw notInjected(target, volumePath);
    if (dryRun) {
      return {
        dryRun: true,
        recovered: found.map((l) => ({ id: l.record.id, volumePath: l.record.volumePath })),
      };
    }
    const left = (await Promise.all(found.map((l) => this.recover(l, 'requested')))).flat();
    if (left.length > 0) {
      throw new ControlError(
        'Internal',
        `recovery is incomplete, still left (kubectl iochaos recover again retries; status shows it):\n  ${left.join('\n  ')}`,
      );
    }
    return { recovered: found.map((l) => ({ id: l.record.id, volumePath: l.record.volumePath })) };
  }

  /**
   * Recovers one injection; concurrent callers share one run. Never throws: resolves with what is
   * left (empty when everything was put back and verified). An incomplete one stays open for a retry.
   */
  recover(live: Live, reason: string): Promise<string[]> {
    live.recovering ??= this.runRecovery(live, reason).then(
      (left) => {
        if (left.length === 0) this.live.delete(live.record.id);
        else live.recovering = undefined;
        return left;
      },
      (err: unknown) => {
        live.recovering = undefined;
        return [`recovery failed: ${err instanceof Error ? err.message : String(err)}`];
      },
    );
    return live.recovering;
  }

  private async runRecovery(live: Live, reason: string): Promise<string[]> {
    const r = live.record;
    live.expiry?.cancel();
    this.opts.log('recover', { id: r.id, reason, step: r.step });
    this.journal.record(r.id, 'recovering');
    r.step = 'recovering';
    const problems: string[] = [];
    const attempt = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    const workerAlive = this.workerAlive(r);
    // 1. Rules off, so nothing is delayed or failed while the fds move back (a dead worker has none).
    if (workerAlive) await attempt('rules off', () => this.workerRequest(r, { op: 'rules.clear' }));
    await failpoint('recover:rules-off', this.opts.log);
    const nsPid = this.nsPid(r);
    const fuseMntId = r.fuseMntId ?? (nsPid !== undefined ? this.findFuseMount(r, nsPid) : undefined);
    if (nsPid !== undefined && fuseMntId !== undefined) {
      // 2. Detach first, lazily: from then on a path opened in the namespace (a worker forked a moment
      // ago, a file opened between two swap passes) reaches the original volume, never ChaosFS again;
      // what is already open on ChaosFS keeps working and is moved back in 3.
      await attempt('detach', () => this.opts.steps.detach(nsPid, r.volumePath, fuseMntId));
      // 3. Fds back onto the original volume: through our fd of it or the worker's root fd, or, with
      // worker and daemon both dead, beneath the namespace's root where the detach uncovered it.
      await attempt('swap back', () =>
        live.originalFd !== undefined || workerAlive
          ? this.swapBack(live, fuseMntId, workerAlive)
          : this.swapBackBeneathRoot(live, fuseMntId),
      );
      await failpoint('recover:swapped-back', this.opts.log);
    }
    // 4. Stop the worker (it unmounts its staging mount), unless something is still on its mount:
    // a live worker keeps that working, and a retry can still reach its backing files.
    const held = this.held(r, fuseMntId);
    if (held.length === 0) {
      if (r.workerPid) await attempt('stop worker', () => stopWorker(this.workerIdentity(r)!));
      await attempt('staging cleanup', async () => this.opts.steps.unmountStaging(r.staging));
      if (r.workerPid) this.workers.delete(r.workerPid);
      if (live.originalFd !== undefined) fs.closeSync(live.originalFd);
      live.originalFd = undefined;
    }
    // 5. Verify before answering.
    const left = this.verify(r, fuseMntId);
    if (left.length > 0) {
      const error = [...problems, ...left].join('; ');
      r.left = left;
      r.error = error;
      r.step = 'recover-incomplete';
      this.journal.record(r.id, 'recover-incomplete', { left, error });
      this.opts.log('recover-incomplete', { id: r.id, left, problems });
      return left;
    }
    const error = problems.length > 0 ? problems.join('; ') : undefined;
    this.journal.record(r.id, 'recovered', { error });
    r.step = 'recovered';
    this.opts.log('recovered', { id: r.id, problems: error });
    // The worker's log is kept only when something went wrong: it is what explains it.
    if (!error) fs.rmSync(workerLog(this.opts.stateDir, r.id), { force: true });
    return [];
  }

  /** Swap-back while the original is reachable through our fd or the worker's root fd. */
  private async swapBack(live: Live, fuseMntId: number, workerAlive: boolean): Promise<void> {
    const r = live.record;
    const original =
      live.originalFd !== undefined ? `/proc/${process.pid}/fd/${live.originalFd}` : r.backingRoot;
    if (original === undefined) throw new Error('the original volume is not reachable');
    // A process that forks while its parent is being swapped inherits fds still on ChaosFS: a few
    // passes, each over what holds the mount then, until a pass finds nothing left to move.
    for (let pass = 0; pass < 3; pass++) {
      const s = await this.opts.steps.swapOut(
        this.processesToSwapBack(r, fuseMntId),
        r.volumePath,
        fuseMntId,
        original,
        workerAlive ? r.workerPid : undefined,
      );
      if (s.failed.length > 0) throw new Error(s.failed.join('; '));
      if (s.swapped === 0 || this.held(r, fuseMntId).length === 0) return;
    }
  }

  /**
   * Swap-back after the dead mount was detached: the original is volumePath in the namespace again,
   * opened beneath its root with no symlink followed, and checked to be the mount that was below.
   */
  private async swapBackBeneathRoot(live: Live, fuseMntId: number): Promise<void> {
    const r = live.record;
    const nsPid = this.nsPid(r);
    if (nsPid === undefined) return;
    const fd = openDirInRoot(`/proc/${nsPid}/root`, r.volumePath);
    try {
      const mnt = mountIdOfFd(fd);
      if (r.belowMntId !== undefined && mnt !== r.belowMntId) {
        throw new Error(
          `${r.volumePath} in the target is on mount ${mnt}, not the original volume (mount ${r.belowMntId})`,
        );
      }
      const s = await this.opts.steps.swapOut(
        this.processesToSwapBack(r, fuseMntId),
        r.volumePath,
        fuseMntId,
        `/proc/${process.pid}/fd/${fd}`,
      );
      if (s.failed.length > 0) throw new Error(s.failed.join('; '));
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The target's processes now, and any other process holding a file on the ChaosFS mount. */
  private processesToSwapBack(r: InjectionRecord, fuseMntId: number): number[] {
    const holders = this.held(r, fuseMntId).map((h) => h.pid);
    return [...new Set([...this.processes(r), ...holders])].filter((p) => !this.ownPids().has(p));
  }

  /** What any process on the host still holds on the injection's ChaosFS mount. */
  private held(r: InjectionRecord, fuseMntId: number | undefined) {
    const ids = new Set<number>(fuseMntId !== undefined ? [fuseMntId] : []);
    return holdersOf(ids, new Set(r.fuseDev ? [r.fuseDev] : []));
  }

  /**
   * What recovery left: holds on the ChaosFS mount (by any process on the host), the ChaosFS mount
   * still anywhere in the namespace, the namespace's mount table not as before. The mount is known by
   * its id and its file system's device, never by its path: the app may have renamed what is above
   * it, and another injection's ChaosFS mount may be under the volume path.
   */
  private verify(r: InjectionRecord, fuseMntId: number | undefined): string[] {
    const left = this.held(r, fuseMntId).map(describeHold);
    const nsPid = this.nsPid(r);
    if (nsPid === undefined) return left; // the namespace is gone, and its mounts with it
    for (const m of mounts(nsPid)) {
      if (m.id === fuseMntId || (r.fuseDev !== undefined && m.dev === r.fuseDev)) {
        left.push(`mount ${m.id} (${m.fstype}) at ${m.mountpoint} is still in the target's namespace`);
      }
    }
    if (r.mountsBefore) {
      const diff = mountTableDiff(r.mountsBefore, mountTable(nsPid, r.volumePath));
      if (diff.length > 0) left.push(`the mount table under ${r.volumePath} differs:\n${diff.join('\n')}`);
    }
    return left;
  }

  /** A live process of the injection's namespace (the journaled one if it still is), or none left. */
  private nsPid(r: InjectionRecord): number | undefined {
    if (r.mountNs === undefined) return isAlive(r.nsPid) ? r.nsPid : undefined;
    const pid = anyProcessOf(r.mountNs, r.nsPid, this.ownPids());
    if (pid !== undefined && pid !== r.nsPid) {
      r.nsPid = pid;
      this.journal.record(r.id, r.step, { nsPid: pid });
    }
    return pid;
  }

  /** The target's processes now (its namespace's, and its container's). */
  private processes(r: InjectionRecord): number[] {
    const ns: NamespaceId | undefined = r.mountNs ?? namespaceOf(r.nsPid);
    if (ns === undefined) return [];
    return targetProcesses(ns, r.containerId, this.ownPids());
  }

  private workerIdentity(r: InjectionRecord) {
    return r.workerPid === undefined
      ? undefined
      : { pid: r.workerPid, start: r.workerStart, socket: r.workerSocket };
  }

  private workerAlive(r: InjectionRecord): boolean {
    const w = this.workerIdentity(r);
    return w !== undefined && isWorker(w);
  }

  /**
   * A crash between attach and its journal line leaves no mount id: the worker's staging mount (in
   * our own namespace, out of the app's reach) names the file system's device, and the mount of that
   * device in the target's table is ours wherever it is now. With the worker gone too, a ChaosFS
   * mount on top of the volume path is the best guess left.
   */
  private findFuseMount(r: InjectionRecord, nsPid: number): number | undefined {
    r.fuseDev ??= mounts('self').find((m) => m.mountpoint === r.staging && m.fstype === FS_TYPE)?.dev;
    const ours = mounts(nsPid).filter((m) =>
      r.fuseDev !== undefined ? m.dev === r.fuseDev : m.mountpoint === r.volumePath && m.fstype === FS_TYPE,
    );
    return ours.at(-1)?.id;
  }

  private workerExited(live: Live, code: number | null): void {
    if (live.recovering || live.record.step === 'recovered') return;
    this.opts.log('worker-died', { id: live.record.id, code });
    void this.recover(live, `worker exited (${code})`);
  }

  /**
   * Recovers when no process of the target's namespace is left (not when the named ones exit: the
   * others still use the volume), and when an active injection's worker died.
   */
  private watch(): void {
    for (const live of this.live.values()) {
      const r = live.record;
      if (live.recovering) continue;
      if (this.nsPid(r) === undefined) {
        if (r.step !== 'recover-incomplete' || this.held(r, r.fuseMntId).length === 0) {
          void this.recover(live, 'no process of the target is left');
        }
      } else if (r.step !== 'recover-incomplete' && r.workerPid && !this.workerAlive(r)) {
        this.workerExited(live, null);
      }
    }
  }

  private async status(target?: Target): Promise<InjectionStatus[]> {
    const lives = target ? this.matching(target) : [...this.live.values()];
    return Promise.all(lives.map((l) => this.describe(l)));
  }

  private async describe(live: Live): Promise<InjectionStatus> {
    const r = live.record;
    const reply = await this.workerRequest<{ rules: RuleStatus[]; calls?: OpCalls }>(r, {
      op: 'rules.list',
    }).catch(() => undefined);
    return {
      id: r.id,
      target: r.target,
      volumePath: r.volumePath,
      pids: this.processes(r),
      startedAt: r.startedAt,
      endsAt: live.expiry?.endsAt(r.rules.map((rule) => rule.id!)) ?? r.endsAt,
      state: r.step,
      rules: (live.expiry ?? new RuleExpiry(() => {}))
        .withExpiry(
          reply?.rules ??
            parseRules(r.rules).map((rule, i) => ({
              id: rule.id ?? `rule-${i + 1}`,
              rule,
              matched: 0,
              injected: 0,
            })),
        )
        .map((s) => this.withEffect(live, s, reply?.calls)),
      calls: reply?.calls,
      swapped: live.lastSwap?.swapped,
      skipped: live.lastSwap?.skipped,
      pauseUs: live.lastSwap?.maxPauseUs,
      left: r.left,
    };
  }

  /** A rule's status with when it was set and, for a rule that does nothing, what to check. */
  private withEffect<S extends RuleStatus>(live: Live, s: S, calls: OpCalls | undefined): S & RuleEffect {
    const setAt = live.setAt.get(s.id);
    if (setAt === undefined) return s;
    // Only a live worker's counters say the rule does nothing; without them there is nothing to tell.
    const hint =
      live.record.step === 'active' && calls !== undefined
        ? ruleHint({
            rule: s.rule,
            matched: s.matched,
            injected: s.injected,
            setAt,
            now: Date.now(),
            volumePath: live.record.volumePath,
            calls,
            afterMs: this.opts.hintAfterMs ?? DEFAULT_HINT_AFTER_MS,
          })
        : undefined;
    return { ...s, setAt: new Date(setAt).toISOString(), ...(hint ? { hint } : {}) };
  }

  private async workerRequest<T = unknown>(r: InjectionRecord, req: ControlRequest): Promise<T> {
    const reply = await request<T>(r.workerSocket, req);
    if (!reply.ok) throw new ControlError(reply.error.code, reply.error.message);
    return reply.result;
  }

  private ownPids(): Set<number> {
    return new Set([process.pid, ...this.workers]);
  }

  /** SIGTERM (pod deletion): recover everything, then stop. */
  async shutdown(): Promise<void> {
    clearInterval(this.watchdog);
    await Promise.all([...this.live.values()].map((l) => this.recover(l, 'daemon stopping')));
    this.journal.compact();
    this.journal.close();
  }

  get injectionCount(): number {
    return this.live.size;
  }
}

/** The rules just set start their clock (a replace drops the others' clocks). */
function markSet(live: Live, rules: readonly RuleInput[], replace: boolean): void {
  if (replace) live.setAt.clear();
  const now = Date.now();
  for (const r of rules) live.setAt.set(r.id!, now);
}

function validRules(input: unknown[]): RuleInput[] {
  parseRules(input);
  return input as RuleInput[];
}

const workerLog = (stateDir: string, id: string) => path.join(stateDir, `${id}.worker.log`);

function notInjected(target: Target, volumePath?: string): ControlError {
  const who =
    'pid' in target ? `pid/${target.pid}` : `container ${target.containerName ?? target.containerId}`;
  return new ControlError(
    'NotFound',
    `${who}${volumePath ? ` at ${volumePath}` : ''} is not injected: nothing to recover (kubectl iochaos status lists what is)`,
  );
}

/**
 * The volume path must be a directory in the target, reached without any symlink on the way. (The
 * schema already refused "/", relative paths and "..".) Errors name the field, not only the text.
 */
function checkVolumePath(root: string, volumePath: string): void {
  let at = root;
  for (const part of volumePath.split('/').filter(Boolean)) {
    at += '/' + part;
    const where = at.slice(root.length);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(at);
    } catch {
      throw new ControlError(
        'NotFound',
        `${volumePath} does not exist in the target (no ${where})`,
        'volumePath',
      );
    }
    if (st.isSymbolicLink()) {
      throw new ControlError(
        'BadRequest',
        `${where} is a symlink in the target; give the path it points to`,
        'volumePath',
      );
    }
    if (!st.isDirectory())
      throw new ControlError(
        'BadRequest',
        `${where} is a ${st.isFile() ? 'file' : 'non-directory'} in the target: give the volume's directory (a mount point or any directory), and pick files in it with the rules' path glob`,
        'volumePath',
      );
  }
}
