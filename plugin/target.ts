/**
 * TARGET as kubectl users write it: `pid/1234` (a local process), `pod/NAME`, `deployment/NAME`,
 * `statefulset/NAME`, or none with `-l SELECTOR`.
 */
import { EXIT, UserError } from './errors';

export type TargetRef =
  | { kind: 'pid'; pid: number }
  | { kind: 'pod' | 'deployment' | 'statefulset'; name: string }
  | { kind: 'selector'; selector: string };

const KIND_ALIASES: Record<string, 'pod' | 'deployment' | 'statefulset'> = {
  pod: 'pod',
  pods: 'pod',
  po: 'pod',
  deployment: 'deployment',
  deployments: 'deployment',
  deploy: 'deployment',
  statefulset: 'statefulset',
  statefulsets: 'statefulset',
  sts: 'statefulset',
};

/** A TARGET that cannot be parsed: a usage error (exit 2). */
export class TargetError extends UserError {
  constructor(message: string) {
    super(message, 'see: kubectl iochaos --help', EXIT.usage);
    this.name = 'TargetError';
  }
}

export function parseTarget(text: string | undefined, selector?: string): TargetRef {
  if (selector !== undefined) {
    if (text) throw new TargetError(`give either TARGET (${text}) or -l ${selector}, not both`);
    return { kind: 'selector', selector };
  }
  if (!text) {
    throw new TargetError('no TARGET: name one, e.g. pid/1234, pod/web-0, deployment/web, or use -l app=web');
  }
  const slash = text.indexOf('/');
  if (slash <= 0 || slash === text.length - 1) {
    throw new TargetError(`"${text}" is not a TARGET: write KIND/NAME, e.g. pod/${text} or pid/${text}`);
  }
  const kind = text.slice(0, slash).toLowerCase();
  const name = text.slice(slash + 1);
  if (kind === 'pid') {
    if (!/^\d+$/.test(name) || Number(name) <= 0)
      throw new TargetError(`"${text}": a pid is a positive number`);
    return { kind: 'pid', pid: Number(name) };
  }
  const k = KIND_ALIASES[kind];
  if (!k)
    throw new TargetError(`"${kind}" is not a kind iochaos targets: use pid, pod, deployment or statefulset`);
  return { kind: k, name };
}

export function describeTarget(t: TargetRef): string {
  if (t.kind === 'pid') return `pid/${t.pid}`;
  if (t.kind === 'selector') return `pods matching ${t.selector}`;
  return `${t.kind}/${t.name}`;
}
