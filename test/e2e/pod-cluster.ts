/**
 * A one-node "cluster" for the end-to-end pod tests: the API stand-in (listening where podman's
 * containers reach it, on their bridge's gateway) with mutating admission, a Deployment controller
 * and the podman kubelet; the real `kubectl` with the real `kubectl-iochaos` on its PATH; and the
 * images built from the Dockerfiles. The install is `kubectl apply -k` of an overlay of manifests/
 * whose only change is `images:` (the locally built, content-tagged images), as an admin installing
 * from their own registry writes it.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FakeApiServer } from '../support/apiserver';
import { serveMutatingAdmission, type AdmissionCall } from '../support/apiserver/admission';
import { runDeploymentController } from '../support/apiserver/controllers';
import { PodmanKubelet } from '../support/apiserver/kubelet';
import { PLUGIN_CLI } from '../support/daemon';
import { ROOT } from '../support/paths';
import { CACHE_DIR, podman } from '../support/podman/engine';
import { ensureProductImages, type ProductImages } from '../support/podman/images';

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface PodCluster {
  api: FakeApiServer;
  kubelet: PodmanKubelet;
  admission: AdmissionCall[];
  images: ProductImages;
  dir: string;
  /** Errors of the controllers and the kubelet: a test checks none happened. */
  errors: unknown[];
  kubectl(args: string[], input?: string): Promise<Run>;
  /** kubectl that must succeed; returns stdout. */
  ok(args: string[], input?: string): Promise<string>;
  close(): Promise<void>;
}

const RBAC = 'rbac.authorization.k8s.io';

async function bridgeGateway(): Promise<string> {
  const nets = JSON.parse(await podman(['network', 'inspect', 'podman'])) as {
    subnets?: { gateway?: string }[];
  }[];
  const gw = nets[0]?.subnets?.[0]?.gateway;
  if (!gw) throw new Error('podman network "podman" has no gateway: pods could not reach the API');
  return gw;
}

/** The overlay: manifests/ as its base (through a symlink: kustomize refuses absolute bases). */
function writeOverlay(dir: string, images: ProductImages): string {
  const overlay = path.join(dir, 'install');
  fs.mkdirSync(overlay);
  fs.symlinkSync(path.join(ROOT, 'manifests'), path.join(overlay, 'base'));
  const [wName, wTag] = images.webhook.split(/:(?=[^:]+$)/);
  const [sName, sTag] = images.sidecar.split(/:(?=[^:]+$)/);
  fs.writeFileSync(
    path.join(overlay, 'kustomization.yaml'),
    [
      'resources: [base]',
      'images:',
      `  - {name: ghcr.io/iochaos/webhook, newName: ${wName}, newTag: "${wTag}"}`,
      `  - {name: ghcr.io/iochaos/chaosfs, newName: ${sName}, newTag: "${sTag}"}`,
      '',
    ].join('\n'),
  );
  return overlay;
}

export async function startPodCluster(): Promise<PodCluster & { overlay: string }> {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const images = await ensureProductImages(path.join(CACHE_DIR, 'image-build.log'));
  const errors: unknown[] = [];
  const gateway = await bridgeGateway();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-pods-'));
  let api: FakeApiServer | undefined;
  let kubelet: PodmanKubelet | undefined;
  try {
    api = await FakeApiServer.start({ host: '0.0.0.0', altNames: [gateway] });
    kubelet = await PodmanKubelet.start(api, {
      apiHost: gateway,
      apiPort: api.listenPort,
      dir: path.join(dir, 'kubelet'),
      onError: (err) => errors.push(err),
    });
    return assemble(dir, images, api, kubelet, errors);
  } catch (err) {
    // Whatever started is stopped: a failed start leaves no pod, server or directory behind.
    await kubelet?.close();
    await api?.close();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function assemble(
  dir: string,
  images: ProductImages,
  api: FakeApiServer,
  kubelet: PodmanKubelet,
  errors: unknown[],
): PodCluster & { overlay: string } {
  for (const [group, version, kind, plural, namespaced] of [
    [RBAC, 'v1', 'Role', 'roles', true],
    [RBAC, 'v1', 'RoleBinding', 'rolebindings', true],
    [RBAC, 'v1', 'ClusterRole', 'clusterroles', false],
    [RBAC, 'v1', 'ClusterRoleBinding', 'clusterrolebindings', false],
    ['policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets', true],
  ] as const) {
    api.addResource({ group, version, kind, plural, namespaced });
  }
  const admission = serveMutatingAdmission(api);
  runDeploymentController(api, (err) => errors.push(err));

  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.chmodSync(PLUGIN_CLI, 0o755);
  fs.symlinkSync(PLUGIN_CLI, path.join(bin, 'kubectl-iochaos'));
  const kubeconfig = api.writeKubeconfig(path.join(dir, 'kubeconfig'), 'default');
  const rest = (process.env.PATH ?? '/usr/bin:/bin')
    .split(':')
    .filter((p) => p && !p.includes('node_modules'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IOCHAOS_')));
  const kubectl = (args: string[], input?: string): Promise<Run> => {
    const child = spawn('kubectl', args, {
      env: {
        ...env,
        PATH: [bin, path.dirname(process.execPath), ...rest].join(':'),
        KUBECONFIG: kubeconfig,
        HOME: dir,
      },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
  };
  // Interrupted (Ctrl-C, a CI timeout), the run still removes its pods; a run killed outright leaves
  // them to the next run's kubelet, which removes pods whose process is gone.
  const interrupted = (signal: NodeJS.Signals) => {
    void close().finally(() => process.kill(process.pid, signal));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  async function close(): Promise<void> {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    try {
      await kubelet.close();
    } finally {
      await api.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return {
    api,
    kubelet,
    admission,
    images,
    dir,
    errors,
    overlay: writeOverlay(dir, images),
    kubectl,
    async ok(args, input) {
      const r = await kubectl(args, input);
      if (r.status !== 0)
        throw new Error(`kubectl ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
      return r.stdout;
    },
    close,
  };
}

/** Thrown by an `until` check to stop waiting at once (the awaited thing can no longer happen). */
export class GiveUp extends Error {}

/** Polls `check` until it returns something other than undefined, or fails with `what`. */
export async function until<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 120_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}
