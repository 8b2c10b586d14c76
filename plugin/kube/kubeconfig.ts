/**
 * Which cluster, user and namespace a pod target means, found the way kubectl finds them:
 * --kubeconfig, else every file in $KUBECONFIG (merged; missing ones skipped, as kubectl does), else
 * ~/.kube/config, else the in-cluster service account. --context picks a context; -n overrides the
 * context's namespace, which defaults to "default".
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { UserError } from '../errors';

export interface KubeFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

export interface KubeTarget {
  kc: KubeConfig;
  /** The namespace a pod name is looked up in. */
  namespace: string;
  context: string;
  /** The API server's URL, for messages. */
  server: string;
}

function loadFile(kc: KubeConfig, file: string, why: string): void {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'ENOENT'
        ? `the kubeconfig ${file} (${why}) does not exist`
        : `cannot read the kubeconfig ${file} (${why}): ${(err as Error).message}`,
      code === 'ENOENT'
        ? 'give the right path with --kubeconfig, or set KUBECONFIG to your cluster config'
        : `make it readable by this user (ls -l ${file}), or point --kubeconfig at another file`,
    );
  }
  try {
    kc.loadFromString(text);
    // Certificate and token file paths in a kubeconfig are relative to the file, as kubectl reads them.
    (kc as unknown as { makePathsAbsolute(dir: string): void }).makePathsAbsolute(path.dirname(file));
  } catch (err) {
    throw new UserError(
      `the kubeconfig ${file} (${why}) is not a valid kubeconfig: ${(err as Error).message.split('\n')[0]}`,
      `check it with: kubectl config view --kubeconfig ${file}`,
    );
  }
}

function load(flags: KubeFlags, env: NodeJS.ProcessEnv): KubeConfig {
  const kc = new KubeConfig();
  if (flags.kubeconfig) {
    loadFile(kc, path.resolve(flags.kubeconfig), '--kubeconfig');
    return kc;
  }
  const fromEnv = (env.KUBECONFIG ?? '').split(path.delimiter).filter(Boolean);
  if (fromEnv.length > 0) {
    const present = fromEnv.filter((f) => fs.existsSync(f));
    if (present.length === 0) {
      throw new UserError(
        `no kubeconfig found: KUBECONFIG names ${fromEnv.join(', ')}, and none of them exists`,
        'fix KUBECONFIG, or give the file with --kubeconfig',
      );
    }
    loadFile(kc, present[0], 'from KUBECONFIG');
    for (const file of present.slice(1)) {
      const more = new KubeConfig();
      loadFile(more, file, 'from KUBECONFIG');
      // The first file wins for current-context, as in kubectl's merge.
      kc.mergeConfig(more, true);
    }
    return kc;
  }
  const home = path.join(env.HOME ?? os.homedir(), '.kube', 'config');
  if (fs.existsSync(home)) {
    loadFile(kc, home, 'the default');
    return kc;
  }
  if (env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromCluster();
    return kc;
  }
  throw new UserError(
    `no kubeconfig found: ${home} does not exist and KUBECONFIG is not set`,
    'give one with --kubeconfig FILE or KUBECONFIG=FILE (kubectl config view shows what kubectl uses)',
  );
}

export function loadKube(flags: KubeFlags, env: NodeJS.ProcessEnv = process.env): KubeTarget {
  const kc = load(flags, env);
  if (flags.context) {
    if (!kc.getContextObject(flags.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new UserError(
        `context "${flags.context}" is not in the kubeconfig`,
        known.length > 0 ? `use one of: ${known.join(', ')}` : 'the kubeconfig has no contexts',
      );
    }
    kc.setCurrentContext(flags.context);
  }
  const context = kc.getCurrentContext();
  const ctx = kc.getContextObject(context);
  if (!ctx) {
    throw new UserError(
      'the kubeconfig names no current context',
      'pick one with --context NAME, or: kubectl config use-context NAME',
    );
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new UserError(
      `context "${context}" names cluster "${ctx.cluster}", which the kubeconfig does not define`,
      'fix the kubeconfig (kubectl config view), or pick another --context',
    );
  }
  return { kc, namespace: flags.namespace || ctx.namespace || 'default', context, server: cluster.server };
}
