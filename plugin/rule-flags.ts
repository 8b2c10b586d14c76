/**
 * The fault spec's fields as command-line flags, one set per fault command. The flags only gather
 * input; parseRules (sidecar/api/fault-spec.ts) validates it, so the CLI and the daemon refuse the same
 * things with the same messages.
 */
import type { Options } from 'yargs';
import type { RuleInput } from '../sidecar/api/fault-spec';

type Flags = Record<string, unknown>;

export interface FaultCommand {
  name: string;
  action: RuleInput['action'];
  describe: string;
  flags: Record<string, Options>;
  examples: [string, string][];
  /** The action-specific fields of the rule, from the flags. */
  fields(argv: Flags): Partial<RuleInput>;
}

const list = (v: unknown) =>
  typeof v === 'string' && v !== ''
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;

/** `EIO` or `EIO:3,ENOSPC:1` (weights). */
function errnoFields(text: string): Partial<RuleInput> {
  if (!text.includes(',') && !text.includes(':')) return { errno: text } as Partial<RuleInput>;
  return {
    faults: list(text)!.map((part) => {
      // At the first colon only: "EIO:3:4" has the weight "3:4", which the schema refuses.
      const at = part.indexOf(':');
      if (at < 0) return { errno: part, weight: 1 };
      return { errno: part.slice(0, at), weight: Number(part.slice(at + 1) || NaN) };
    }),
  } as Partial<RuleInput>;
}

const TIME_HELP = 'unix seconds (1700000000.5) or RFC 3339 (2024-01-02T03:04:05Z, 2024-01-02)';

const num = (v: unknown) => (v === undefined ? undefined : Number(v));

export const COMMON_FLAGS: Record<string, Options> = {
  path: {
    type: 'string',
    describe: 'the volume path in the target, e.g. /data (a mount point or any directory)',
  },
  files: {
    type: 'string',
    describe: "glob of files under the volume, relative to it: '*' stays in a directory, '**' crosses",
  },
  methods: {
    type: 'string',
    describe: 'comma-separated file-system methods: read,write,open,getattr,setattr,readdir,...',
  },
  percent: { type: 'number', describe: 'percent of matching calls to fault (0-100)', default: undefined },
  times: { type: 'number', describe: 'fault only the first N matching calls' },
  seed: { type: 'number', describe: 'random seed, for a reproducible run' },
  duration: {
    type: 'string',
    describe:
      'this rule comes off after this long, e.g. 30s, 5m; the injection recovers with its last rule (default: until recover)',
  },
  name: {
    type: 'string',
    alias: 'id',
    describe:
      'rule id: a rule given again under the same name replaces it (default: derived from the rule, so an identical rule replaces itself)',
  },
  'all-in-namespace': {
    type: 'boolean',
    describe:
      "allow a pid/N that shares the host's mount namespace: every process of the host is then a target",
  },
};

export const FAULT_COMMANDS: FaultCommand[] = [
  {
    name: 'delay',
    action: 'latency',
    describe: 'Delay file-system calls',
    flags: {
      delay: { type: 'string', demandOption: true, describe: 'how long, e.g. 10ms, 1.5s' },
      jitter: { type: 'string', describe: 'spread the delay uniformly by this much either way' },
    },
    examples: [
      ['$0 delay pid/1234 --path /data --delay 10ms --percent 50', 'half the calls on /data wait 10 ms'],
      [
        '$0 delay pod/web-0 --path /var/lib/db --delay 100ms --methods read --duration 5m',
        'slow reads for 5 min',
      ],
    ],
    fields: (a) => ({ delay: a.delay, jitter: a.jitter }) as Partial<RuleInput>,
  },
  {
    name: 'fault',
    action: 'fault',
    describe: 'Fail file-system calls with an errno',
    flags: {
      errno: { type: 'string', demandOption: true, describe: 'EIO, 5, or weighted: EIO:3,ENOSPC:1' },
    },
    examples: [
      [
        '$0 fault pid/1234 --path /data --errno EIO --methods write --percent 10',
        '10% of writes fail with EIO',
      ],
    ],
    fields: (a) => errnoFields(String(a.errno)),
  },
  {
    name: 'attr',
    action: 'attrOverride',
    describe: 'Report wrong file attributes (stat)',
    flags: {
      ino: { type: 'number' },
      size: { type: 'number' },
      blocks: { type: 'number' },
      atime: { type: 'string', describe: TIME_HELP },
      mtime: { type: 'string', describe: TIME_HELP },
      ctime: { type: 'string', describe: TIME_HELP },
      kind: {
        type: 'string',
        describe: 'regularFile, directory, symlink, namedPipe, charDevice, blockDevice, socket',
      },
      perm: { type: 'string', describe: 'permission bits in octal, e.g. 0444' },
      nlink: { type: 'number' },
      uid: { type: 'number' },
      gid: { type: 'number' },
      rdev: { type: 'number' },
    },
    examples: [
      ['$0 attr pid/1234 --path /data --files "*.db" --perm 0444 --size 0', 'the database looks empty'],
    ],
    fields: (a) => {
      const attr = {
        ino: num(a.ino),
        size: num(a.size),
        blocks: num(a.blocks),
        atime: a.atime,
        mtime: a.mtime,
        ctime: a.ctime,
        kind: a.kind,
        perm: a.perm === undefined ? undefined : String(a.perm),
        nlink: num(a.nlink),
        uid: num(a.uid),
        gid: num(a.gid),
        rdev: num(a.rdev),
      };
      return {
        attr: Object.fromEntries(Object.entries(attr).filter(([, v]) => v !== undefined)),
      } as Partial<RuleInput>;
    },
  },
  {
    name: 'mistake',
    action: 'mistake',
    describe: 'Corrupt data read or written',
    flags: {
      filling: { type: 'string', choices: ['zero', 'random'], default: 'random' },
      'max-occurrences': { type: 'number', default: 1, describe: 'corrupted runs per call, at most' },
      'max-length': { type: 'number', default: 1, describe: 'bytes per corrupted run, at most' },
    },
    examples: [
      ['$0 mistake pid/1234 --path /data --methods read --max-length 4', 'reads return a few wrong bytes'],
    ],
    fields: (a) =>
      ({
        mistake: { filling: a.filling, maxOccurrences: a['max-occurrences'], maxLength: a['max-length'] },
      }) as Partial<RuleInput>,
  },
  {
    name: 'bandwidth',
    action: 'bandwidth',
    describe: 'Cap read/write throughput',
    flags: { rate: { type: 'string', demandOption: true, describe: 'bytes per second, e.g. 1MiB, 500KB' } },
    examples: [['$0 bandwidth pid/1234 --path /data --rate 1MiB --methods read', 'reads at most 1 MiB/s']],
    fields: (a) => ({ rate: a.rate }) as Partial<RuleInput>,
  },
  {
    name: 'diskfull',
    action: 'diskFull',
    describe: 'ENOSPC once the volume has grown by a limit',
    flags: {
      limit: { type: 'string', demandOption: true, describe: 'bytes of growth allowed, e.g. 10MiB, 0' },
    },
    examples: [['$0 diskfull pid/1234 --path /data --limit 0', 'the volume is full now']],
    fields: (a) => ({ limit: a.limit }) as Partial<RuleInput>,
  },
];

/** The whole rule from a fault command's flags. */
export function ruleFromFlags(cmd: FaultCommand, argv: Flags): RuleInput {
  const rule: Record<string, unknown> = {
    action: cmd.action,
    id: argv.name,
    path: argv.files,
    methods: list(argv.methods),
    percent: argv.percent,
    times: argv.times,
    seed: argv.seed,
    duration: argv.duration,
    ...cmd.fields(argv),
  };
  return Object.fromEntries(Object.entries(rule).filter(([, v]) => v !== undefined)) as RuleInput;
}
