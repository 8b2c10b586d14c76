/**
 * What the plugin tests share: the real kubectl with `kubectl-iochaos` on its PATH, the API stand-in
 * with pods/exec, a "sidecar container" in which `chaosfs` is the real CLI pointed at a real test
 * daemon, and a real cgroup per target so that a pod's containerID names the target's processes the
 * way a container runtime's does.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FakeApiServer } from '../support/apiserver';
import { serveExec, type ExecContainer, type ExecService } from '../support/apiserver/exec';
import { CHAOSFS_CLI } from '../support/paths';
import { PLUGIN_CLI } from '../support/daemon';
import { SIDECAR_NAME, INJECT_ANNOTATION } from '../../sidecar/api/names';

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface Cluster {
  api: FakeApiServer;
  exec: ExecService;
  dir: string;
  kubeconfig: string;
  /** PATH with kubectl-iochaos first, as `npm link` or a krew install would leave it. */
  pluginPath: string;
  /** Maps "namespace/pod/container" to where exec runs; the sidecar is added per daemon. */
  containers: Map<string, ExecContainer>;
  /** `kubectl ARGS` with KUBECONFIG set; extra env wins. */
  kubectl(args: string[], env?: NodeJS.ProcessEnv): Promise<Run>;
  close(): Promise<void>;
}

export async function startCluster(namespace = 'shop'): Promise<Cluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-plugin-'));
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.chmodSync(PLUGIN_CLI, 0o755);
  fs.symlinkSync(PLUGIN_CLI, path.join(bin, 'kubectl-iochaos'));
  // kubectl (1.26+) completes `kubectl iochaos ...` by running this one.
  const completer = path.join(path.dirname(PLUGIN_CLI), 'complete-cli.js');
  fs.chmodSync(completer, 0o755);
  fs.symlinkSync(completer, path.join(bin, 'kubectl_complete-iochaos'));
  const api = await FakeApiServer.start();
  api.create('', 'namespaces', undefined, { metadata: { name: namespace } });
  const kubeconfig = api.writeKubeconfig(path.join(dir, 'kubeconfig'), 'default');
  const containers = new Map<string, ExecContainer>();
  const exec = serveExec(api, (ns, pod, container) => containers.get(`${ns}/${pod}/${container}`));
  // npx puts node_modules/.bin (where npm links this repo's own kubectl-iochaos) on PATH; the test's
  // copy must be the only one kubectl finds.
  const rest = (process.env.PATH ?? '/usr/bin:/bin')
    .split(':')
    .filter((p) => p && !p.includes('node_modules'));
  const pluginPath = [bin, path.dirname(process.execPath), ...rest].join(':');
  return {
    api,
    exec,
    dir,
    kubeconfig,
    pluginPath,
    containers,
    kubectl(args, env = {}) {
      // Nothing of the test's own IOCHAOS_* environment reaches the plugin: pods are reached only
      // through the API.
      const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IOCHAOS_')));
      // kubectl refuses flags before a plugin's name; its cache goes under HOME.
      const child = spawn('kubectl', args, {
        env: { ...base, PATH: pluginPath, KUBECONFIG: kubeconfig, HOME: dir, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
    },
    async close() {
      await api.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A directory whose `chaosfs` is the real CLI, as the sidecar image's PATH has it. */
export function sidecarContainer(dir: string, daemonSocket: string): ExecContainer {
  const bin = path.join(dir, 'sidecar-bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(
    path.join(bin, 'chaosfs'),
    `#!/bin/sh\nexec '${process.execPath}' '${CHAOSFS_CLI}' "$@"\n`,
    { mode: 0o755 },
  );
  return { env: { PATH: `${bin}:/usr/bin:/bin`, IOCHAOS_SOCKET: daemonSocket } };
}

/** A 64-hex id, like containerd's. */
export const containerId = () => randomBytes(32).toString('hex');

export interface PodSpec {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  /** App containers and their ids; the sidecar is added unless `injected` is false. */
  apps: { name: string; id: string }[];
  injected?: boolean;
  annotated?: boolean;
  sidecarReady?: boolean;
  phase?: string;
}

/** A pod as the API server holds it after the webhook mutated it and the kubelet reported it. */
export function podObject(p: PodSpec): Record<string, unknown> {
  const injected = p.injected ?? true;
  const running = (name: string, id: string, ready = true) => ({
    name,
    ready,
    started: true,
    restartCount: 0,
    image: `${name}:test`,
    imageID: `${name}@sha256:${'0'.repeat(64)}`,
    containerID: `containerd://${id}`,
    state: { running: { startedAt: new Date().toISOString() } },
  });
  const containers = p.apps.map((a) => ({ name: a.name, image: `${a.name}:test` }));
  const statuses = p.apps.map((a) => running(a.name, a.id));
  if (injected) {
    containers.push({ name: SIDECAR_NAME, image: 'ghcr.io/iochaos/chaosfs:0.1.0' });
    statuses.push(running(SIDECAR_NAME, containerId(), p.sidecarReady ?? true));
  }
  return {
    metadata: {
      name: p.name,
      namespace: p.namespace,
      labels: p.labels ?? {},
      annotations: (p.annotated ?? injected) ? { [INJECT_ANNOTATION]: 'true' } : {},
    },
    spec: { shareProcessNamespace: injected || undefined, containers },
    status: { phase: p.phase ?? 'Running', containerStatuses: statuses },
  };
}

/** The cgroup v2 hierarchy's mount point, wherever this machine has it. */
export function cgroup2Root(): string {
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (right?.startsWith('cgroup2 ')) return left.split(' ')[4];
  }
  throw new Error('no cgroup v2 hierarchy is mounted here: a container id cannot name a test process');
}

export interface ContainerCgroup {
  id: string;
  dir: string;
  /** Moves a process (and so its future children) into the container's cgroup. */
  add(pid: number): void;
  /** After the processes are gone (or moved out): removes the cgroup directories. */
  remove(): void;
}

/**
 * A cgroup laid out as the kubelet's cgroupfs driver does (kubepods/pod<uid>/<container id>), so
 * /proc/PID/cgroup of a process in it names the container id, as in a real pod.
 */
export function containerCgroup(): ContainerCgroup {
  const root = cgroup2Root();
  const id = containerId();
  const base = path.join(root, `iochaos-test-${process.pid}-${randomBytes(3).toString('hex')}`);
  const podDir = path.join(base, `pod${randomUUID()}`);
  const dir = path.join(podDir, id);
  fs.mkdirSync(dir, { recursive: true });
  return {
    id,
    dir,
    add: (pid) => fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid)),
    remove() {
      // Anything still inside goes back to the root, or rmdir fails with EBUSY.
      for (const pid of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          fs.writeFileSync(path.join(root, 'cgroup.procs'), pid);
        } catch {
          // Gone meanwhile.
        }
      }
      for (const d of [dir, podDir, base]) fs.rmdirSync(d);
    },
  };
}
