/**
 * The fault spec: what a rule is, typed once and shared by ChaosFS, the daemon and the plugin.
 *
 * Field names follow Chaos Mesh's IOChaos (`action`, `path`, `methods`, `percent`, `delay`, `errno`,
 * `attr`, `mistake.filling|maxOccurrences|maxLength`) so that existing experiments translate. Two
 * kinds go beyond it: `bandwidth` and `diskFull`. Every rule also takes `times` and `seed`.
 *
 * Input is untrusted (a JSON file, a control socket, a CLI flag): `parseRules` refuses anything
 * malformed with a message that names the field, e.g. `rules[0].percent: must be at most 100`. Every
 * input rule lives here, once: the plugin checks the request it built with the schema the daemon uses,
 * so a dry run and the real run refuse the same things with the same words.
 */
import { z } from 'zod';
import * as os from 'node:os';
import picomatch from 'picomatch';

/**
 * Chaos Mesh's FUSE method names. ChaosFS serves libfuse3's low-level ops, which carry these names
 * (sidecar/faults/methods.ts).
 */
export const METHODS = [
  'lookup',
  'forget',
  'getattr',
  'setattr',
  'readlink',
  'mknod',
  'mkdir',
  'unlink',
  'rmdir',
  'symlink',
  'rename',
  'link',
  'open',
  'read',
  'write',
  'flush',
  'release',
  'fsync',
  'opendir',
  'readdir',
  'releasedir',
  'fsyncdir',
  'statfs',
  'setxattr',
  'getxattr',
  'listxattr',
  'removexattr',
  'access',
  'create',
  'getlk',
  'setlk',
  'bmap',
] as const;
export type Method = (typeof METHODS)[number];

/**
 * Methods that never reach ChaosFS: the kernel keeps inode lifetimes (forget), POSIX locks (getlk,
 * setlk) and block maps (bmap) to itself, and checks access itself (the mount uses
 * default_permissions). A rule naming only these would match nothing, so it is refused
 * (sidecar/faults/methods.ts maps every ChaosFS operation; a test keeps the two in step).
 */
export const NEVER_REACHED_METHODS: readonly Method[] = ['forget', 'access', 'getlk', 'setlk', 'bmap'];

export const ACTIONS = ['latency', 'fault', 'attrOverride', 'mistake', 'bandwidth', 'diskFull'] as const;
export type Action = (typeof ACTIONS)[number];

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go-style duration ("10ms", "1.5s", "1m30s") into milliseconds; undefined if malformed. */
export function parseDurationMs(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  if (text === '0') return 0;
  let total = 0;
  let matched = 0;
  re.lastIndex = 0;
  while (re.lastIndex < text.length) {
    const m = re.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    matched++;
  }
  return matched > 0 ? total : undefined;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  ki: 1024,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
};

/** Parses a byte size ("4096", "10MiB", "1.5GB") into bytes; undefined if malformed. */
export function parseBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  if (!m) return undefined;
  const unit = SIZE_UNITS[m[2].toLowerCase()];
  return unit === undefined ? undefined : Math.floor(Number(m[1]) * unit);
}

/**
 * The longest duration anything takes: 24 days, under Node's timer limit (2^31-1 ms, 24.8 days), past
 * which a timer fires at once. A rule or an injection that must last longer is set again.
 */
export const MAX_DURATION_MS = 24 * 24 * 3_600_000;
/** A delay is a wait inside a file-system call: an hour is already far past any client's patience. */
export const MAX_DELAY_MS = 3_600_000;

/** Why a Go-style duration is refused, or undefined when it is fine. */
export function durationProblem(text: string, max = MAX_DURATION_MS, allowZero = false): string | undefined {
  const ms = parseDurationMs(text);
  if (ms === undefined) return `"${text}" is not a duration: use e.g. "10ms", "1.5s", "2m"`;
  if (ms === 0 && !allowZero) return `"${text}" is zero: give a duration of more than 0, e.g. "30s"`;
  if (!(ms <= max)) return `"${text}" is too long: at most ${formatDuration(max)}`;
  return undefined;
}

/** 86400000 -> "24h"; the inverse of parseDurationMs for whole hours, minutes, seconds or ms. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A bounded duration, kept as written (a request field the daemon reads later). */
export const durationText = (max = MAX_DURATION_MS) =>
  z.string().superRefine((text, ctx) => {
    const problem = durationProblem(text, max);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** A bounded duration, normalised to milliseconds. */
const duration = (max: number, allowZero: boolean) =>
  z.string().transform((text, ctx) => {
    const problem = durationProblem(text, max, allowZero);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return parseDurationMs(text)!;
  });

const byteSize = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : parseBytes(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a byte size: use e.g. 4096, "64KiB", "10MB"` });
    return z.NEVER;
  }
  return n;
});

const ERRNOS = os.constants.errno as Record<string, number>;
const ERRNO_NAMES = new Map(Object.entries(ERRNOS).map(([name, n]) => [n, name]));

/** An errno by name ("EIO") or number (5); normalised to the number. */
const errno = z.union([z.number().int(), z.string()]).transform((v, ctx) => {
  const numeric = typeof v === 'number' || /^\d+$/.test(v);
  const n = numeric ? Number(v) : ERRNOS[v.toUpperCase()];
  if (n === undefined || !ERRNO_NAMES.has(n)) {
    ctx.addIssue({
      code: 'custom',
      message: numeric
        ? `${String(v)} is not an errno of this system: use a name like "EIO" (or its number, 5)`
        : `unknown errno ${JSON.stringify(v)}: use a name like "EIO" or "ENOSPC"`,
    });
    return z.NEVER;
  }
  return n;
});

export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? String(n);
}

const glob = z.string().superRefine((pattern, ctx) => {
  if (pattern.startsWith('/')) {
    ctx.addIssue({
      code: 'custom',
      message: `"${pattern}" must be relative to the volume root (no leading /)`,
    });
    return;
  }
  try {
    picomatch.makeRe(pattern, { strictBrackets: true });
    picomatch.scan(pattern);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `"${pattern}" is not a valid glob: ${(err as Error).message}` });
  }
});

/** Chaos Mesh's `Timespec`. */
const timespecObject = z.strictObject({
  sec: z.number().int(),
  nsec: z.number().int().min(0).max(999_999_999),
});
export type Timespec = z.output<typeof timespecObject>;

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|([+-])(\d{2}):(\d{2})))?$/;

/**
 * A time as text: unix seconds ("1700000000", "1700000000.5"), an RFC 3339 date-time with its offset
 * ("2024-01-02T03:04:05.123456789Z", "...+02:00") or a date ("2024-01-02", midnight UTC); to the
 * nanosecond. A date-time without an offset is refused: whose local time it is would be a guess.
 */
export function parseTimespec(text: string): Timespec | undefined {
  const fraction = (digits = '') => Number(digits.padEnd(9, '0'));
  const unix = /^(\d{1,15})(?:\.(\d{1,9}))?$/.exec(text);
  if (unix) return { sec: Number(unix[1]), nsec: fraction(unix[2]) };
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h = 0, mi = 0, sec = 0] = m
    .slice(1, 7)
    .map((v) => (v === undefined ? undefined : Number(v)));
  const ms = Date.UTC(y!, mo! - 1, d!, h, mi, sec);
  const back = new Date(ms);
  // Date.UTC rolls "2024-13-40" over into a later date; a field out of range is a typo, not a time.
  if (back.getUTCMonth() !== mo! - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h) return undefined;
  if (back.getUTCMinutes() !== mi || back.getUTCSeconds() !== sec) return undefined;
  const offset = m[9] ? (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11])) * 60 : 0;
  return { sec: ms / 1000 - offset, nsec: fraction(m[7]) };
}

/** A time: Chaos Mesh's {sec, nsec}, or text as parseTimespec takes it. */
const timespec = z.union([z.string(), timespecObject]).transform((v, ctx) => {
  if (typeof v !== 'string') return v;
  const t = parseTimespec(v);
  if (t === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(v)} is not a time: give unix seconds (e.g. 1700000000.5) or RFC 3339 (e.g. "2024-01-02T03:04:05Z", "2024-01-02")`,
    });
    return z.NEVER;
  }
  return t;
});

/** Chaos Mesh's FileType names for attrOverride.kind. */
export const FILE_KINDS = [
  'namedPipe',
  'charDevice',
  'blockDevice',
  'directory',
  'regularFile',
  'symlink',
  'socket',
] as const;
export type FileKind = (typeof FILE_KINDS)[number];

/**
 * Permission bits: a number (Chaos Mesh's YAML reads 0444 as octal), or octal digits as text ("0444"
 * or "444", as chmod takes them, or "0o444", as JavaScript and Python write them).
 */
const perm = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const digits = typeof v === 'string' ? /^(?:0o?)?([0-7]{1,4})$/.exec(v)?.[1] : undefined;
  const n = typeof v === 'number' ? v : digits !== undefined ? parseInt(digits, 8) : undefined;
  if (n === undefined || !Number.isInteger(n) || n < 0 || n > 0o7777) {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(v)} is not permission bits: give octal digits, e.g. "0444" or "0644" (at most 07777)`,
    });
    return z.NEVER;
  }
  return n;
});

const u64 = z.number().int().nonnegative();
const u32 = z.number().int().nonnegative().max(0xffffffff);

const common = {
  /** Set by whoever stores the rule when absent; unique among the active rules. */
  id: z.string().min(1).max(320).optional(),
  /** Glob relative to the volume root: `*` stays within one directory, `**` crosses them. */
  path: glob.optional(),
  methods: z
    .array(z.enum(METHODS))
    .min(1)
    .refine((ms) => !ms.every((m) => NEVER_REACHED_METHODS.includes(m)), {
      message: `${NEVER_REACHED_METHODS.join(', ')} never reach ChaosFS (the kernel keeps inode lifetimes, locks and block maps to itself, and checks access itself), so this rule would match nothing: name others, e.g. read,write,readdir`,
    })
    .optional(),
  percent: z.number().min(0).max(100).optional(),
  /** Only the first N calls that match (after `percent`) are faulted. */
  times: z.number().int().positive().optional(),
  /** Seed for this rule's randomness, for reproducible runs. */
  seed: z.number().int().nonnegative().optional(),
  /** The daemon removes the rule this long after it was set; the injection recovers with its last rule. */
  duration: durationText().optional(),
};

const latency = z.strictObject({
  ...common,
  action: z.literal('latency'),
  delay: duration(MAX_DELAY_MS, true),
  jitter: duration(MAX_DELAY_MS, true).optional(),
});

const fault = z
  .strictObject({
    ...common,
    action: z.literal('fault'),
    errno: errno.optional(),
    /** A weighted list, e.g. [{errno:"EIO",weight:3},{errno:"ENOSPC",weight:1}]. */
    faults: z
      .array(
        z.strictObject({
          errno,
          weight: z.number({ error: 'a weight is a positive number, as in EIO:3,ENOSPC:1' }).positive(),
        }),
      )
      .min(1)
      .optional(),
  })
  .refine((r) => (r.errno === undefined) !== (r.faults === undefined), {
    message: 'give exactly one of errno or faults',
    path: ['errno'],
  });

const attrOverride = z.strictObject({
  ...common,
  action: z.literal('attrOverride'),
  attr: z
    .strictObject({
      ino: u64.optional(),
      size: u64.optional(),
      blocks: u64.optional(),
      atime: timespec.optional(),
      mtime: timespec.optional(),
      ctime: timespec.optional(),
      kind: z.enum(FILE_KINDS).optional(),
      perm: perm.optional(),
      nlink: u32.optional(),
      uid: u32.optional(),
      gid: u32.optional(),
      rdev: u32.optional(),
    })
    .refine((a) => Object.keys(a).length > 0, 'give at least one attribute to override'),
});

const mistake = z.strictObject({
  ...common,
  action: z.literal('mistake'),
  mistake: z.strictObject({
    filling: z.enum(['zero', 'random']),
    maxOccurrences: z.number().int().positive(),
    maxLength: z.number().int().positive(),
  }),
});

const bandwidth = z.strictObject({
  ...common,
  action: z.literal('bandwidth'),
  /** Bytes per second, shared by every call the rule matches. */
  rate: byteSize.refine((n) => n > 0, 'must be more than 0 bytes/s'),
});

const diskFull = z.strictObject({
  ...common,
  action: z.literal('diskFull'),
  /** ENOSPC once the volume has grown by this many bytes since the rule was set. */
  limit: byteSize,
});

export const RuleSchema = z.discriminatedUnion('action', [
  latency,
  fault,
  attrOverride,
  mistake,
  bandwidth,
  diskFull,
]);

/** A rule as validated and normalised: durations in ms, errnos and sizes as numbers. */
export type Rule = z.output<typeof RuleSchema>;
/** A rule as written by a person or sent over the wire. */
export type RuleInput = z.input<typeof RuleSchema>;
export type RuleOf<A extends Action> = Extract<Rule, { action: A }>;

/** One problem with input: where (a path into it) and what is wrong. */
export interface SpecIssue {
  path: (string | number)[];
  message: string;
}

/** The one way a path into input is written: `rules[0].attr.perm`. */
export function formatPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

export const formatIssue = (i: SpecIssue) => (i.path.length ? `${formatPath(i.path)}: ` : '') + i.message;

/** zod's issues as SpecIssues under `prefix`, in the words used everywhere. */
export function specIssues(
  issues: readonly z.core.$ZodIssue[],
  prefix: (string | number)[] = [],
): SpecIssue[] {
  return issues.map((issue) => {
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `unknown field(s): ${issue.keys.join(', ')}`;
    return { path: [...prefix, ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))], message };
  });
}

export class FaultSpecError extends Error {
  readonly problems: string[];

  constructor(readonly issues: SpecIssue[]) {
    const problems = issues.map(formatIssue);
    super(problems.join('; '));
    this.problems = problems;
    this.name = 'FaultSpecError';
  }
}

/**
 * The most rules one volume carries. Every call of the app is checked against each of them (past the
 * native path's 64, in JavaScript), so a list of thousands would slow the app more than any fault it
 * asks for; one rule covers many files and methods with a glob and a method list.
 */
export const MAX_RULES = 256;

/** The refusal for a rule list that would leave a volume with `count` rules. */
export function tooManyRules(count: number): string {
  return `at most ${MAX_RULES} rules on a volume (this would make ${count}): one rule covers many files with a path glob and many calls with its methods`;
}

/** Every problem of a list of rules; empty when it is valid. */
export function ruleIssues(input: unknown, where = 'rules'): { rules: Rule[]; issues: SpecIssue[] } {
  if (!Array.isArray(input))
    return { rules: [], issues: [{ path: [where], message: 'must be a JSON array of rules' }] };
  if (input.length > MAX_RULES)
    return { rules: [], issues: [{ path: [where], message: tooManyRules(input.length) }] };
  const rules: Rule[] = [];
  const issues: SpecIssue[] = [];
  input.forEach((raw, i) => {
    if (typeof raw === 'object' && raw !== null && !ACTIONS.includes((raw as { action?: never }).action!)) {
      const action = (raw as { action?: unknown }).action;
      issues.push({
        path: [where, i, 'action'],
        message: `unknown action ${JSON.stringify(action)}; use one of ${ACTIONS.join(', ')}`,
      });
      return;
    }
    const result = RuleSchema.safeParse(raw);
    if (result.success) rules.push(result.data);
    else issues.push(...specIssues(result.error.issues, [where, i]));
  });
  const ids = new Set<string>();
  for (const r of rules) {
    if (r.id !== undefined && ids.has(r.id))
      issues.push({ path: [where], message: `id "${r.id}" is used twice` });
    if (r.id !== undefined) ids.add(r.id);
  }
  return { rules, issues };
}

/** Validates a list of rules; throws FaultSpecError naming every bad field. */
export function parseRules(input: unknown, where = 'rules'): Rule[] {
  const { rules, issues } = ruleIssues(input, where);
  if (issues.length > 0) throw new FaultSpecError(issues);
  return rules;
}
