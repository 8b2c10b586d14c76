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

export const PROTOCOL_VERSION = 1;

/** The largest request a server reads; a rule list is far smaller. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

const version = z.literal(PROTOCOL_VERSION).optional();
/** Rules are validated by parseRules (fault-spec.ts), which names the bad field. */
const rules = z.array(z.unknown());

/** What an injection targets: a local process (and those sharing its mount namespace), or a container. */
export const TargetSchema = z.union([
  z.strictObject({ pid: z.number().int().positive() }),
  z.strictObject({ containerId: z.string().min(1), containerName: z.string().optional() }),
]);
export type Target = z.infer<typeof TargetSchema>;

const volumePath = z
  .string()
  .min(1)
  .refine((p) => p.startsWith('/'), 'must be an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".."')
  .refine((p) => !p.includes('\0'), 'must not contain NUL');

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
    /** Go-style duration; the daemon recovers by itself when it ends. */
    duration: z.string().optional(),
  }),
  /** Daemon: change the rules of an injection in place. */
  z.strictObject({
    version,
    op: z.literal('update'),
    target: TargetSchema,
    volumePath: volumePath.optional(),
    rules,
    replace: z.boolean().optional(),
  }),
  z.strictObject({
    version,
    op: z.literal('recover'),
    target: TargetSchema,
    volumePath: volumePath.optional(),
  }),
  z.strictObject({ version, op: z.literal('status'), target: TargetSchema.optional() }),
]);
export type ControlRequest = z.infer<typeof ControlRequestSchema>;
export type ControlOp = ControlRequest['op'];

export const ERROR_CODES = ['BadRequest', 'NotFound', 'Conflict', 'Unsupported', 'Internal'] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export type ControlReply<T = unknown> =
  | { version: number; ok: true; result: T }
  | { version: number; ok: false; error: { code: ErrorCode; message: string } };

/** An error a handler throws to answer with a code other than Internal. */
export class ControlError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}
