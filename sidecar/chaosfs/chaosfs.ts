/**
 * One ChaosFS mount: a pass-through of `source` at `mountpoint` on the project's libfuse3 binding
 * (native/fuse-native), with a rule set that can change while mounted.
 *
 * Every call is served in C. The rules are compiled for the binding (native-rules.ts): it matches op,
 * path glob and percent natively, holds plain delays on its timer thread, and shows JavaScript
 * (calls.ts) only the calls a rule must act on. So with no rule, or a rule on `**\/*.sst`, the other
 * calls never leave C.
 *
 * Caches, and why (the binding chooses per call, see its README):
 * - attributes and names are cached 1 s while no rule names getattr / lookup, and not at all while one
 *   does (an attrOverride shows at once) or while the access guard is on (guard.ts);
 * - an open keeps the page cache while no read/write rule can match the file, else it is direct_io, so
 *   every read() and write() reaches the rules; a rule change invalidates everything the kernel holds,
 *   so a new rule applies at once. Shared mmap works either way (FUSE_DIRECT_IO_ALLOW_MMAP): mapped
 *   pages reach the rules at page-fault granularity (the README says what reaches the rules).
 * - allow_other + default_permissions: the app (any uid) can use the mount, and the kernel checks the
 *   app's permissions against the file's attributes. An attrOverride rule changes those: while one
 *   could, the guard makes the binding act with the caller's credentials (guard.ts).
 */
import * as fs from 'node:fs';
import { FuseSession, type Stats } from '../../native/fuse-native/index';
import type { Rule } from '../api/fault-spec';
import { OPERATIONS } from '../faults/methods';
import { RuleSet } from '../faults/rule-set';
import { O_PATH } from './backing';
import { CallHandler } from './calls';
import { AccessGuard } from './guard';
import { compile, type Compiled } from './native-rules';

/** The file-system type the kernel shows (`fuse.chaosfs`), which also marks a path as injected. */
export const FS_TYPE = 'fuse.chaosfs';

/** Logs what went wrong in a call (the call itself got EIO). */
export type Logger = (message: string, err: unknown) => void;

export interface MountOptions {
  /** The backing directory: a trusted path, or /proc/self/fd/N of a directory fd held by the caller. */
  source: string;
  mountpoint: string;
  rules?: readonly Rule[];
  log?: Logger;
}

export class ChaosFs {
  private closing?: Promise<void>;
  private compiled: Compiled = { rules: [], slots: [] };
  /** Native counters of the current set already added to their rules (by native rule index). */
  private counted: number[][] = [[], []];
  private settling: Promise<unknown> = Promise.resolve();
  private readonly guard: AccessGuard;
  /**
   * Keeps the process alive while mounted: the binding serves calls on its own threads and holds no
   * handle on the event loop, so a worker with nothing else to do would exit and take its mount along.
   */
  private readonly alive = setInterval(() => {}, 1 << 30);

  private constructor(
    private readonly session: FuseSession,
    private readonly rootFd: number,
    readonly mountpoint: string,
    readonly rules: RuleSet,
    private readonly log: Logger,
  ) {
    this.guard = new AccessGuard((on) => {
      if (this.closing) return;
      session.setGuard(on);
      // Turned off by its timer: attributes and names may be cached again from now on.
      if (!on) this.settling = session.invalidate().catch((err) => log('invalidate after the guard', err));
    });
  }

  /** The original volume, reachable after ChaosFS covers it: `/proc/self/fd/<root fd>`. */
  get backingRoot(): string {
    return `/proc/self/fd/${this.rootFd}`;
  }

  static async mount(opts: MountOptions): Promise<ChaosFs> {
    const rootFd = fs.openSync(opts.source, O_PATH | fs.constants.O_DIRECTORY);
    const rules = new RuleSet();
    if (opts.rules) rules.replace(opts.rules);
    const log: Logger = opts.log ?? ((msg, err) => process.stderr.write(`chaosfs: ${msg}: ${String(err)}\n`));
    // The handler reads the slots of the ChaosFs made below (no call arrives before it has rules).
    const made: { chaos?: ChaosFs } = {};
    const handler = new CallHandler(rules, () => made.chaos?.compiled.slots ?? null);
    let session: FuseSession;
    try {
      session = FuseSession.mount({
        rootFd,
        mountpoint: opts.mountpoint,
        options: { fsname: 'chaosfs', subtype: 'chaosfs', allowOther: true, defaultPermissions: true },
        handlers: handler,
        onHandlerError: (err, call) => log(`${call.op} ${call.path}`, err),
      });
    } catch (err) {
      fs.closeSync(rootFd);
      throw new Error(`cannot mount ChaosFS at ${opts.mountpoint}: ${(err as Error).message}`);
    }
    const c = (made.chaos = new ChaosFs(session, rootFd, opts.mountpoint, rules, log));
    c.follow();
    rules.onChange(() => c.follow());
    await c.settled();
    return c;
  }

  /** Puts the binding in step with the rules; synchronous, so it holds before a change is acknowledged. */
  private follow(): void {
    this.refreshCounts();
    // The guard first: calls must run as their callers before an override can mislead the kernel.
    this.guard.update(this.rules.list().map((s) => s.rule));
    let compiled = compile(this.rules.active);
    let invalidated: Promise<number>;
    try {
      invalidated = this.session.setRules(compiled.rules);
    } catch (err) {
      // What C refuses (it should not: the spec checked the rules) is selected in JS instead.
      this.log('the binding refused the rules; every call goes to JS', err);
      compiled = { rules: [{ ops: OPERATIONS, js: true }], slots: null };
      invalidated = this.session.setRules(compiled.rules);
    }
    this.compiled = compiled;
    this.counted = [[], []];
    this.settling = invalidated.catch((err) => this.log('invalidate after a rule change', err));
  }

  /** Resolves when the kernel has forgotten what it cached before the last rule change. */
  async settled(): Promise<void> {
    await this.settling;
  }

  /** Adds what the binding counted for natively served rules (plain delays) to their rules' counters. */
  refreshCounts(): void {
    const slots = this.compiled.slots;
    if (!slots || this.closing) return;
    const now = this.session.ruleCounts();
    slots.forEach((slot, k) => {
      if (slot.kind !== 'delay') return;
      const [m, f] = [now.matched[k] ?? 0, now.fired[k] ?? 0];
      slot.rule.matched += m - (this.counted[0][k] ?? 0);
      slot.rule.injected += f - (this.counted[1][k] ?? 0);
      this.counted[0][k] = m;
      this.counted[1][k] = f;
    });
  }

  /** Per operation, calls served natively and calls shown to JS. */
  stats(): Pick<Stats, 'nativeCalls' | 'jsCalls'> | null {
    const s = this.closing ? null : this.session.stats();
    return s && { nativeCalls: s.nativeCalls, jsCalls: s.jsCalls };
  }

  /**
   * Clears every rule (cutting delays short), unmounts and closes the backing. Safe to call twice.
   * `at` says where the mount is now, if it was moved since it was mounted.
   */
  unmount(at?: string): Promise<void> {
    this.closing ??= (async () => {
      this.rules.clear();
      this.guard.close();
      clearInterval(this.alive);
      // The invalidation the clear started works on the session: let it finish before it is freed.
      await this.settled();
      await this.session.close(at);
      fs.closeSync(this.rootFd);
    })();
    return this.closing;
  }
}
