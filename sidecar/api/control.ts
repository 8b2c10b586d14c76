/**
 * The control protocol: what `chaosfs ctl` (and through it the plugin) sends to a ChaosFS worker or to
 * the daemon, and what comes back. Typed once here; both ends import it.
 *
 * Wire format: one JSON request per connection on a unix socket, newline-terminated; one JSON reply,
 * newline-terminated. Requests carry `version` (absent means 1); a server refuses versions it does not
 * speak. Errors carry a `code` in the spirit of Kubernetes' Status reasons and a message a person can
 * act on.
 */
import { z } from 'zod';
import { durationText, formatIssue, ruleIssues, specIssues, formatPath, type SpecIssue } from './fault-spec';

export const PROTOCOL_VERSION = 1;

/** The largest request a server reads; a rule list is far smaller. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

const version = z.literal(PROTOCOL_VERSION).optional();
/** Rules are validated by parseRules (fault-spec.ts), which names the bad field. */
const rules = z.array(z.unknown());

/** What an injection targets: a local process (and those sharing its mount namespace), or a container. */
export const TargetSchema = z.union(
  [
    z.strictObject({ pid: z.number().int().positive() }),
    z.strictObject({ containerId: z.string().min(1), containerName: z.string().optional() }),
  ],
  // zod's own word for a value no branch takes is "Invalid input": say what a target looks like.
  { error: () => 'must be {"pid": N} with N a process id (a whole number > 0), or {"containerId": "..."}' },
);
export type Target = z.infer<typeof TargetSchema>;

/**
 * A volume path in the target: absolute, without `.`, `..` or NUL, not `/` itself. Repeated and
 * trailing slashes are dropped (`/data/` is `/data`), so every side names a volume the same way and the
 * mount helper, which takes only canonical paths, never sees anything else.
 */
export const VolumePathSchema = z.string().transform((text, ctx) => {
  const fail = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  if (text.includes('\0')) return fail('must not contain NUL');
  if (!text.startsWith('/')) return fail(`must be an absolute path, e.g. /data (got "${text}")`);
  const parts = text.split('/').filter(Boolean);
  if (parts.includes('..') || parts.includes('.'))
    return fail(`must not contain ".." or "." components (got "${text}"): give the path itself`);
  if (parts.length === 0) return fail('refusing to inject the root directory "/": name a volume, e.g. /data');
  return '/' + parts.join('/');
});
const volumePath = VolumePathSchema;

/**
 * `dryRun`: validate everything the real request would need (the target, its volume, the rules, a
 * conflict with what is injected) and answer what would be done, changing nothing.
 */
const dryRun = z.boolean().optional();

export const ControlRequestSchema = z.discriminatedUnion('op', [
  z.strictObject({ version, op: z.literal('health') }),
  /** Worker and daemon: add rules (replacing those with the same id), or replace them all. */
  z.strictObject({ version, op: z.literal('rules.set'), rules, replace: z.boolean().optional() }),
  z.strictObject({ version, op: z.literal('rules.clear'), ids: z.array(z.string()).optional() }),
  z.strictObject({ version, op: z.literal('rules.list') }),
  /** Daemon: put ChaosFS over volumePath for the target's processes, with these rules. */
  z.strictObject({
    version,
    op: z.literal('inject'),
    target: TargetSchema,
    volumePath,
    rules,
    /** Go-style duration for the rules that give none; the injection recovers with its last rule. */
    duration: durationText().optional(),
    /**
     * A pid target whose mount namespace is the daemon's own (or PID 1's) covers every process of the
     * host: refused unless this is true.
     */
    allInNamespace: z.boolean().optional(),
    dryRun,
  }),
  /** Daemon: change the rules of an injection in place. */
  z.strictObject({
    version,
    op: z.literal('update'),
    target: TargetSchema,
    volumePath: volumePath.optional(),
    rules,
    replace: z.boolean().optional(),
    dryRun,
  }),
  z.strictObject({
    version,
    op: z.literal('recover'),
    target: TargetSchema,
    volumePath: volumePath.optional(),
    dryRun,
  }),
  z.strictObject({ version, op: z.literal('status'), target: TargetSchema.optional() }),
  /** Daemon: the counters of status (of one target, or all), as Prometheus text exposition. */
  z.strictObject({ version, op: z.literal('metrics'), target: TargetSchema.optional() }),
]);
export type ControlRequest = z.output<typeof ControlRequestSchema>;
export type ControlOp = ControlRequest['op'];

export const ERROR_CODES = ['BadRequest', 'NotFound', 'Conflict', 'Unsupported', 'Internal'] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export type ControlReply<T = unknown> =
  { version: number; ok: true; result: T } | { version: number; ok: false; error: ControlErrorBody };

export interface ControlErrorBody {
  code: ErrorCode;
  message: string;
  /** The request field at fault (`volumePath`, `rules[0].percent`), for a client to name its own flag. */
  field?: string;
}

/** An error a handler throws to answer with a code other than Internal. */
export class ControlError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

/**
 * Every problem of a request, rules included: what the server refuses and what the plugin checks
 * before sending (or printing, for a dry run). Rules are validated, not rewritten: they travel as
 * written ("10ms"), so status shows them the way the user wrote them.
 */
export function requestIssues(raw: unknown): { request?: ControlRequest; issues: SpecIssue[] } {
  const parsed = ControlRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = specIssues(parsed.error.issues).map((i) =>
      i.path[0] === 'op' && i.path.length === 1 ? { ...i, message: 'unknown operation' } : i,
    );
    return { issues };
  }
  const request = parsed.data;
  return { request, issues: 'rules' in request ? ruleIssues(request.rules).issues : [] };
}

/** Validates a request as the server does; throws a BadRequest ControlError naming every problem. */
export function parseControlRequest(raw: unknown): ControlRequest {
  const { request, issues } = requestIssues(raw);
  if (issues.length > 0 || !request) {
    const message = issues.map((i) => (i.path.length ? formatIssue(i) : `request: ${i.message}`)).join('; ');
    throw new ControlError(
      'BadRequest',
      message,
      issues[0]?.path.length ? formatPath(issues[0].path) : undefined,
    );
  }
  return request;
}

/**
 * Per operation (the binding's op names: read, write, open, getattr, ...), the calls the app made on
 * an injected volume since ChaosFS was mounted, served natively or in JS. Ops never called are absent.
 */
export type OpCalls = Record<string, number>;

/**
 * What status says about a rule's effect, besides the rule itself: when it was set (so its age is
 * known), what it matched and fired on, and, when it seems to do nothing, what to check.
 */
export interface RuleEffect {
  /** When the rule was set (ISO time); a rule given again (same id) starts again, counters too. */
  setAt?: string;
  /** Calls whose path and method matched. */
  matched: number;
  /** Calls the rule fired on (after percent and times). */
  injected: number;
  /** Why the rule looks idle and what to check; absent while it acts or is younger than the threshold. */
  hint?: string;
}

/** The `metrics` op's result: Prometheus text exposition, printed as is. */
export interface MetricsResult {
  contentType: string;
  text: string;
}
