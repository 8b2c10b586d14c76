/** `kubectl iochaos recover TARGET [--path P]`: put everything back. */
import { printStructured, type OutputFormat } from '../output';
import { reach, type ReachOptions } from '../reach';
import { parseTarget, type TargetRef } from '../target';
import { UserError } from '../errors';

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
    (target) => ({ op: 'recover', target, volumePath: o.volumePath }),
    reachOpts,
  );
  if (o.output === 'json' || o.output === 'yaml') {
    printStructured(
      results.map((r) => ({ target: r.name, ...r.reply })),
      o.output,
    );
  } else {
    for (const r of results) {
      if (r.reply.ok) {
        const paths = r.reply.result.recovered.map((x) => x.volumePath).join(', ');
        process.stdout.write(`${r.name}: recovered ${paths}\n`);
      } else {
        process.stderr.write(`${r.name}: error: ${r.reply.error.message}\n`);
      }
    }
  }
  return results.every((r) => r.reply.ok) ? 0 : 1;
}
