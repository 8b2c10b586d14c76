/** `kubectl iochaos recover TARGET [--path P]`: put everything back. */
import { VolumePathSchema } from '../../sidecar/api/control';
import { parseOutput, type OutputFormat } from '../output';
import { plan, reach, single, type ReachOptions } from '../reach';
import { parseTarget, type TargetRef } from '../target';
import { usageError } from '../errors';
import { parseDryRun, printPlan, report, type DryRun } from './inject';

export interface RecoverOptions {
  target: TargetRef;
  volumePath?: string;
  output: OutputFormat;
  dryRun: DryRun;
}

export function completeRecover(argv: Record<string, unknown>): RecoverOptions {
  return {
    target: parseTarget(argv.target as string | undefined, argv.selector as string | undefined),
    volumePath: argv.path as string | undefined,
    output: parseOutput(argv.output),
    dryRun: parseDryRun(argv['dry-run']),
  };
}

export function validateRecover(o: RecoverOptions): void {
  if (o.volumePath === undefined) return;
  const parsed = VolumePathSchema.safeParse(o.volumePath);
  if (!parsed.success) throw usageError(`--path: ${parsed.error.issues[0].message}`);
  o.volumePath = parsed.data;
}

export async function runRecover(o: RecoverOptions, reachOpts: ReachOptions): Promise<number> {
  const build = single<{ recovered: { id: string; volumePath: string }[] }>((target) => ({
    op: 'recover',
    target: target!,
    volumePath: o.volumePath,
    ...(o.dryRun === 'server' ? { dryRun: true } : {}),
  }));
  if (o.dryRun === 'client') {
    printPlan(
      await plan(
        o.target,
        (target) => ({ op: 'recover', target: target!, volumePath: o.volumePath }),
        reachOpts,
      ),
      o.output,
    );
    return 0;
  }
  if (o.dryRun === 'none')
    reachOpts.say('recovering: rules off, fds back, unmount, check the mount table ...');
  const results = await reach(o.target, build, reachOpts);
  return report(results, o.output, (r) => {
    const ok = r.reply as { ok: true; result: { recovered: { volumePath: string }[] } };
    const paths = ok.result.recovered.map((x) => x.volumePath).join(', ');
    return o.dryRun === 'server'
      ? `would recover ${paths}; server dry run: nothing changed`
      : `recovered ${paths}`;
  });
}
