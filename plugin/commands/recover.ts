/** `kubectl iochaos recover TARGET [--path P]`: put everything back. */
import type { OutputFormat } from '../output';
import { reach, single, type ReachOptions } from '../reach';
import { parseTarget, type TargetRef } from '../target';
import { UserError } from '../errors';
import { printResults, printStructuredResults } from './inject';

export interface RecoverOptions {
  target: TargetRef;
  volumePath?: string;
  output: OutputFormat;
}

export function completeRecover(argv: Record<string, unknown>): RecoverOptions {
  return {
    target: parseTarget(argv.target as string | undefined, argv.selector as string | undefined),
    volumePath: argv.path as string | undefined,
    output: argv.output as OutputFormat,
  };
}

export function validateRecover(o: RecoverOptions): void {
  if (o.volumePath !== undefined && !o.volumePath.startsWith('/')) {
    throw new UserError(`--path ${o.volumePath}: must be an absolute path`);
  }
}

export async function runRecover(o: RecoverOptions, reachOpts: ReachOptions): Promise<number> {
  reachOpts.say('recovering: rules off, fds back, unmount, check the mount table ...');
  const results = await reach<{ recovered: { id: string; volumePath: string }[] }>(
    o.target,
    single((target) => ({ op: 'recover', target: target!, volumePath: o.volumePath })),
    reachOpts,
  );
  if (o.output === 'json' || o.output === 'yaml') printStructuredResults(results, o.output);
  else {
    printResults(results, (r) => {
      const ok = r.reply as { ok: true; result: { recovered: { volumePath: string }[] } };
      return `recovered ${ok.result.recovered.map((x) => x.volumePath).join(', ')}`;
    });
  }
  return results.every((r) => r.reply.ok) ? 0 : 1;
}
