/**
 * One ChaosFS mount: a pass-through of `source` at `mountpoint`, with a rule set that can change while
 * mounted.
 *
 * Cache settings, and why (the one place they are chosen, as in libfuse's passthrough_hp):
 * - direct_io: every read and write reaches ChaosFS, so no page-cache hit can skip a rule. The cost is
 *   no kernel read-ahead; what a rule cannot reach is a file's pages once mmap'd (a MAP_SHARED mapping of
 *   a direct_io file is served by the kernel after the first fault) — see the README.
 * - attr_timeout=0, entry_timeout=0: every stat and lookup reaches ChaosFS, so attrOverride and getattr
 *   faults are seen at once and stop at once.
 * - use_ino: the backing inode numbers show through (and attrOverride can change them).
 * - hard_remove: an unlinked file that is still open is removed at once, as on the backing, not hidden
 *   as .fuse_hidden*: the backing fd keeps its data alive.
 * - allow_other + default_permissions: the app (any uid) can use the mount, and the kernel checks the
 *   app's permissions against the file's attributes, since the privileged worker would allow anything.
 *   Those are the attributes ChaosFS reports, which an attrOverride rule changes: while one could,
 *   the access guard (guard.ts, access.ts) checks every call again against the real attributes.
 *
 * The native fast path: with no rule that could match an operation, fuse-native's worker thread does
 * the pass-through system call itself (fuse.passthrough, native/patches/README.md) and JS never sees
 * the call; that removes the loop and thread-pool hops that made a no-rule ChaosFS several times
 * slower than a C pass-through. The set of operations that must reach the JS handlers is recomputed
 * whenever the rules change, before the change is acknowledged, so a rule applies to every call that
 * arrives after it is set.
 */
import Fuse from 'fuse-native';
import { promisify } from 'node:util';
import type { Rule } from '../api/fault-spec';
import { OPERATIONS, operationsMatching, type Operation } from '../faults/methods';
import { RuleSet } from '../faults/rule-set';
import { Backing } from './backing';
import { AccessGuard } from './guard';
import { makeOperations, type Logger } from './operations';
import { RulesGate } from './rules-gate';

/** The file-system type the kernel shows (`fuse.chaosfs`), which also marks a path as injected. */
export const FS_TYPE = 'fuse.chaosfs';

/**
 * Always served by the JS handlers: the Backing caches directory fds by path and drops them on these
 * two, which a rename or rmdir done natively would leave stale.
 */
const ALWAYS_JS: readonly Operation[] = ['rename', 'rmdir'];

/**
 * The operations that must reach the JS handlers while these rules are active. While the access guard
 * is on (an attrOverride rule could mislead the kernel's permission check: guard.ts) that is every
 * operation, so that no call the kernel let through on overridden attributes is served natively.
 */
export function jsOperations(rules: readonly Rule[], guarded = false): Operation[] {
  if (guarded) return [...OPERATIONS];
  const js = new Set<Operation>(ALWAYS_JS);
  for (const rule of rules) for (const op of operationsMatching(rule.methods)) js.add(op);
  // A full disk shows in df whatever methods the rule names (RulesGate.space).
  if (rules.some((r) => r.action === 'diskFull')) js.add('statfs');
  return [...js];
}

export interface MountOptions {
  /** The backing directory: a trusted path, or /proc/self/fd/N of a directory fd held by the caller. */
  source: string;
  mountpoint: string;
  rules?: readonly Rule[];
  log?: Logger;
}

export class ChaosFs {
  private closing?: Promise<void>;

  private constructor(
    private readonly fuse: Fuse,
    private readonly backing: Backing,
    readonly mountpoint: string,
    readonly rules: RuleSet,
    private readonly guard: AccessGuard,
  ) {}

  /** The original volume, reachable after ChaosFS covers it: `/proc/self/fd/<root fd>`. */
  get backingRoot(): string {
    return this.backing.root;
  }

  static async mount(opts: MountOptions): Promise<ChaosFs> {
    const backing = await Backing.open(opts.source);
    const rules = new RuleSet();
    if (opts.rules) rules.replace(opts.rules);
    const log: Logger = opts.log ?? ((msg, err) => process.stderr.write(`chaosfs: ${msg}: ${String(err)}\n`));
    // The ops need the Fuse instance to name the caller, and Fuse needs the ops: the closure reads
    // `fuse` only when a call arrives, after it is constructed.
    const current = () => rules.list().map((r) => r.rule);
    const guard = new AccessGuard(backing, () => fastPath(current()));
    const ops = makeOperations(backing, new RulesGate(rules), log, () => fuse.caller, guard);
    const fuse = new Fuse(opts.mountpoint, ops, {
      fsname: 'chaosfs',
      subtype: 'chaosfs',
      allowOther: true,
      defaultPermissions: true,
      directIo: true,
      attrTimeout: 0,
      entryTimeout: 0,
      useIno: true,
      hardRemove: true,
      bigWrites: true,
      timeout: false,
    });
    // Set before mounting so that the very first calls are already served natively; kept in step
    // with the rules from then on.
    // The guard first: the fast path must already send every call to JS when the change is acknowledged.
    const fastPath = (active: readonly Rule[]) =>
      fuse.passthrough({ rootFd: backing.rootFd, js: jsOperations(active, guard.enabled) });
    const follow = (active: readonly Rule[]) => {
      guard.update(active);
      fastPath(active);
    };
    follow(current());
    rules.onChange(follow);
    try {
      await promisify(fuse.mount.bind(fuse))();
    } catch (err) {
      guard.close();
      backing.close();
      throw new Error(`cannot mount ChaosFS at ${opts.mountpoint}: ${(err as Error).message}`);
    }
    return new ChaosFs(fuse, backing, opts.mountpoint, rules, guard);
  }

  /** Per operation, calls answered by the native fast path and calls that went to the JS handlers. */
  stats(): { nativeCalls: Record<string, number>; jsCalls: Record<string, number> } | null {
    const s = this.fuse.stats();
    return s && { nativeCalls: s.nativeCalls, jsCalls: s.jsCalls };
  }

  /**
   * Clears every rule (cutting delays short), unmounts and closes the backing. Safe to call twice.
   * `at` says where the mount is now, if it was moved since it was mounted.
   */
  unmount(at?: string): Promise<void> {
    this.closing ??= (async () => {
      this.rules.clear();
      await new Promise<void>((resolve, reject) =>
        this.fuse.close(at ? { mountpoint: at } : {}, (err) => (err ? reject(err) : resolve())),
      );
      this.guard.close();
      this.backing.close();
    })();
    return this.closing;
  }
}
