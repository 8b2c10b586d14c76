/**
 * What ChaosFS does with a call the binding shows to JavaScript: the binding serves every call in C
 * (native/fuse-native) and shows JS only those a JS rule fired on (native-rules.ts), once before the
 * backing call and, when asked, once more with its result. Here the fired rules' faults apply, through
 * the hooks every kind implements (sidecar/faults/fault.ts):
 *
 * - before: `before` (wait, or fail with an errno), and `write` on the bytes about to be stored;
 * - after: `read` on the bytes read, `attributes` on the reply's attributes, `grew` with the growth of
 *   a write or truncate (diskFull), and the free space statfs reports.
 *
 * A thrown error fails the call with EIO (the binding reports it): no input crashes the worker.
 */
import type { Answer, Call } from '../../native/fuse-native/index';
import type { FsCall } from '../faults/fault';
import { methodsOf } from '../faults/methods';
import type { ActiveRule, RuleSet } from '../faults/rule-set';
import { RulesGate } from './rules-gate';
import type { Slot } from './native-rules';

const ATTR_OPS: ReadonlySet<string> = new Set(['lookup', 'getattr', 'setattr']);

/** What the after step of a call needs from its before step. */
interface Pending {
  fsCall: FsCall;
  firing: readonly ActiveRule[];
  space: boolean;
}

function fsCallOf(c: Call): FsCall {
  const sizeBefore = c.sizeBefore;
  return {
    op: c.op,
    methods: methodsOf(c.op),
    path: c.path,
    length: c.length,
    offset: c.offset,
    size: c.size,
    currentSize: sizeBefore === undefined ? undefined : () => Promise.resolve(sizeBefore),
  };
}

export class CallHandler {
  private readonly pending = new Map<number, Pending>();

  /** `slots()`: what each native rule stands for now (null: select every rule here). */
  constructor(
    private readonly rules: RuleSet,
    private readonly slots: () => readonly Slot[] | null,
  ) {}

  readonly call = (c: Call): Answer | Promise<Answer> => (c.after ? this.after(c) : this.before(c));

  /** The rules that fire on this call, counted as rules.select counts them. */
  private select(c: Call, fsCall: FsCall): { firing: ActiveRule[]; space: boolean } {
    const slots = this.slots();
    if (!slots) return { firing: this.rules.select(fsCall), space: c.op === 'statfs' };
    const firing: ActiveRule[] = [];
    let space = false;
    for (const k of c.rules) {
      const slot = slots[k];
      if (slot?.kind === 'space') space = true;
      if (slot?.kind !== 'js') continue;
      const r = slot.rule;
      // A call decided just before the rules changed may name a slot that now holds another rule.
      if (!this.rules.active.includes(r) || !r.filter.matches(fsCall)) continue;
      r.matched++;
      if (!r.filter.fires(slot.drawn)) continue;
      r.injected++;
      firing.push(r);
    }
    return { firing, space };
  }

  private async before(c: Call): Promise<Answer> {
    const fsCall = fsCallOf(c);
    const { firing, space } = this.select(c, fsCall);
    for (const r of firing) {
      const errno = await r.fault.before?.(fsCall, r.context);
      if (typeof errno === 'number' && errno > 0) return -errno;
    }
    if (c.op === 'write' && c.data) RulesGate.write(firing, fsCall, c.data);
    const grows = (c.op === 'write' || c.size !== undefined) && RulesGate.needsGrowth(firing);
    const wantsAfter =
      space ||
      grows ||
      (c.op === 'read' && firing.some((r) => r.fault.read)) ||
      (ATTR_OPS.has(c.op) && firing.some((r) => r.fault.attributes));
    if (!wantsAfter) return 0;
    this.pending.set(c.id, { fsCall, firing, space });
    return { after: true };
  }

  private after(c: Call): Answer {
    const p = this.pending.get(c.id);
    this.pending.delete(c.id);
    // result -1: the backing call failed; the binding shows it only so that this entry goes.
    if (!p || c.result === -1) return 0;
    const { fsCall, firing } = p;
    if (c.op === 'read' && c.data) RulesGate.read(firing, fsCall, c.data);
    if (c.attr) RulesGate.attributes(firing, fsCall, c.attr);
    const before = c.sizeBefore;
    if (before !== undefined && before >= 0) {
      const end = c.op === 'write' ? fsCall.offset! + (c.result ?? 0) : c.size;
      if (end !== undefined) RulesGate.grew(firing, Math.max(0, end - before));
    }
    if (p.space && c.space) c.space = RulesGate.space(this.rules, c.space);
    return 0;
  }
}
