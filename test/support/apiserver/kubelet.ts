/**
 * A kubelet for the stand-in, backed by podman: every pod stored (after admission) is run with
 * `podman kube play`, its status is reported back (phase, podIP, containerStatuses with the real
 * container ids, Ready from the readiness probes, which this kubelet runs itself), pods/exec runs
 * `podman exec -i` in the container, and a deleted pod is removed with its grace period.
 *
 * What a kubelet does before handing a pod to the runtime, done here too: the downward API
 * (`fieldRef`, which `kube play` refuses) and secret/configMap env values are resolved, the service
 * account token, CA and namespace are mounted at /var/run/secrets/kubernetes.io/serviceaccount, and
 * KUBERNETES_SERVICE_HOST/PORT point at the API (the stand-in, on the pods' bridge gateway).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { GLOBAL_FLAGS, podman } from '../podman/engine';
import { serveExec, type ExecService } from './exec';
import type { FakeApiServer } from './server';
import type { KubeObject } from './store';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface KubeletOptions {
  /** How pods reach the API server (KUBERNETES_SERVICE_HOST/PORT). */
  apiHost: string;
  apiPort: number;
  /** Host directory for per-pod files (service account token, the play YAML). */
  dir: string;
  onError: (err: unknown) => void;
}

interface RunningPod {
  key: string;
  podmanName: string;
  namespace: string;
  name: string;
  spec: Json;
  token: string;
  podIP?: string;
  /** Container name -> podman container id. */
  ids: Map<string, string>;
  ready: Map<string, boolean>;
  startTime: string;
  deleted: boolean;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Pods this process started are named k8s-<pid>-..., so a later run can remove a crashed run's pods. */
const PREFIX = `k8s-${process.pid}-`;

export class PodmanKubelet {
  readonly exec: ExecService;
  private readonly pods = new Map<string, RunningPod>();
  private readonly starting = new Map<string, Promise<void>>();
  /** The last `kube play` queued: they run one at a time (see run()). */
  private playing: Promise<unknown> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private syncing = false;

  private constructor(
    private readonly api: FakeApiServer,
    private readonly opts: KubeletOptions,
  ) {
    this.exec = serveExec(api, (ns, pod, container) => {
      const id = this.pods.get(`${ns}/${pod}`)?.ids.get(container);
      return id
        ? { env: process.env, argv: (cmd) => ['podman', ...GLOBAL_FLAGS, 'exec', '-i', id, ...cmd] }
        : undefined;
    });
  }

  static async start(api: FakeApiServer, opts: KubeletOptions): Promise<PodmanKubelet> {
    await removeStalePods();
    const k = new PodmanKubelet(api, opts);
    api.store.onChange((type, t, obj) => {
      if (t.plural !== 'pods' || t.group !== '') return;
      const key = `${obj.metadata!.namespace}/${obj.metadata!.name}`;
      if (type === 'ADDED') k.starting.set(key, k.run(obj).catch(opts.onError));
      if (type === 'DELETED') void k.remove(key).catch(opts.onError);
    });
    k.timer = setInterval(() => void k.sync(), 1000);
    return k;
  }

  /** The podman container id of a pod's container (for tests that act on the runtime directly). */
  containerId(namespace: string, pod: string, container: string): string | undefined {
    return this.pods.get(`${namespace}/${pod}`)?.ids.get(container);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled(this.starting.values());
    // One pod at a time: three `pod rm -f` at once left two pods behind here (their containers
    // removed, the pods not). A pod that cannot be removed fails the run, named.
    const failed: string[] = [];
    for (const key of [...this.pods.keys()])
      await this.remove(key, 0).catch((err: unknown) => failed.push(`${key}: ${String(err)}`));
    if (failed.length) throw new Error(`pods left in podman (remove them by hand): ${failed.join('; ')}`);
  }

  private async run(pod: KubeObject): Promise<void> {
    const namespace = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    const token = randomBytes(24).toString('hex');
    this.api.tokens.add(token);
    const podDir = path.join(this.opts.dir, `${namespace}_${name}`);
    const saDir = path.join(podDir, 'serviceaccount');
    fs.mkdirSync(saDir, { recursive: true });
    fs.writeFileSync(path.join(saDir, 'token'), token, { mode: 0o644 });
    fs.writeFileSync(path.join(saDir, 'ca.crt'), this.api.ca, { mode: 0o644 });
    fs.writeFileSync(path.join(saDir, 'namespace'), namespace, { mode: 0o644 });
    const running: RunningPod = {
      key: `${namespace}/${name}`,
      podmanName: `${PREFIX}${namespace}-${name}`.slice(0, 200),
      namespace,
      name,
      spec: pod.spec as Json,
      token,
      ids: new Map(),
      ready: new Map(),
      startTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      deleted: false,
    };
    this.pods.set(running.key, running);
    const yamlFile = path.join(podDir, 'pod.yaml');
    fs.writeFileSync(yamlFile, stringify(this.playable(pod, running, saDir)));
    // On the "podman" bridge, whose gateway the stand-in listens on (KUBERNETES_SERVICE_HOST): left
    // alone, kube play puts pods on its own podman-default-kube-network, which cannot reach it.
    // One at a time: two `kube play` at once (a Deployment's replicas) left one pod created and never
    // started here.
    const play = this.playing.then(() =>
      podman(['kube', 'play', '--network', 'podman', '--log-driver', 'k8s-file', yamlFile], {
        timeoutMs: 300_000,
      }),
    );
    this.playing = play.catch(() => undefined);
    await play;
    const info = JSON.parse(await podman(['pod', 'inspect', running.podmanName])) as Json;
    const infraId = info.InfraContainerID as string;
    for (const c of info.Containers as { Id: string; Name: string }[]) {
      const container = c.Name.slice(running.podmanName.length + 1);
      if (c.Id !== infraId) running.ids.set(container, c.Id);
    }
    const infra = JSON.parse(await podman(['inspect', infraId]))[0] as Json;
    const nets = Object.values(
      (infra.NetworkSettings?.Networks ?? {}) as Record<string, { IPAddress?: string }>,
    );
    running.podIP = nets.find((n) => n.IPAddress)?.IPAddress;
    if (running.deleted) await this.remove(running.key, 0);
  }

  /** The pod as `kube play` can run it: what the kubelet resolves itself is resolved. */
  private playable(pod: KubeObject, r: RunningPod, saDir: string): Json {
    const spec = structuredClone(pod.spec) as Json;
    refuseLeadingNewlines(pod);
    const resolveEnv = (e: Json): Json => {
      const from = e.valueFrom as Json | undefined;
      if (!from) return e;
      if (from.fieldRef)
        return { name: e.name, value: this.fieldRef(pod, from.fieldRef.fieldPath as string) };
      if (from.secretKeyRef || from.configMapKeyRef) {
        const ref = (from.secretKeyRef ?? from.configMapKeyRef) as Json;
        const plural = from.secretKeyRef ? 'secrets' : 'configmaps';
        const obj = this.api.get('', plural, r.namespace, ref.name as string) as Json;
        const raw = obj.data?.[ref.key as string] as string | undefined;
        return {
          name: e.name,
          value: raw === undefined ? '' : from.secretKeyRef ? Buffer.from(raw, 'base64').toString() : raw,
        };
      }
      // resourceFieldRef: the runtime applies the limits; the value is informational.
      return { name: e.name, value: '' };
    };
    const mountToken = spec.automountServiceAccountToken !== false;
    for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])] as Json[]) {
      c.env = [
        ...((c.env ?? []) as Json[]).map(resolveEnv),
        { name: 'KUBERNETES_SERVICE_HOST', value: this.opts.apiHost },
        { name: 'KUBERNETES_SERVICE_PORT', value: String(this.opts.apiPort) },
      ];
      // A containerPort is reached on the pod's IP; kube play would also bind it on the host (two
      // replicas then collide). Only a hostPort is published, as a kubelet does.
      if (c.ports) c.ports = (c.ports as Json[]).filter((p) => p.hostPort !== undefined);
      // Probes are this kubelet's job (sync below), not podman's healthchecks (which need systemd).
      delete c.readinessProbe;
      delete c.livenessProbe;
      delete c.startupProbe;
      if (mountToken)
        c.volumeMounts = [
          ...(c.volumeMounts ?? []),
          { name: 'kube-api-access', mountPath: SA_DIR, readOnly: true },
        ];
    }
    if (mountToken)
      spec.volumes = [
        ...(spec.volumes ?? []),
        { name: 'kube-api-access', hostPath: { path: saDir, type: 'Directory' } },
      ];
    spec.hostname ??= r.name;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: r.podmanName, labels: pod.metadata?.labels ?? {} },
      spec,
    };
  }

  private fieldRef(pod: KubeObject, fieldPath: string): string {
    const md = pod.metadata as Json;
    const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
    if (m) return String(md[m[1]!]?.[m[2]!] ?? '');
    const values: Record<string, string> = {
      'metadata.name': md.name,
      'metadata.namespace': md.namespace,
      'metadata.uid': md.uid,
      'spec.nodeName': 'standin-node',
      'spec.serviceAccountName': (pod.spec as Json | undefined)?.serviceAccountName ?? 'default',
      'status.hostIP': this.opts.apiHost,
    };
    if (!(fieldPath in values))
      throw new Error(
        `pod ${md.namespace}/${md.name}: fieldRef ${fieldPath} is not supported by the stand-in's kubelet`,
      );
    return values[fieldPath]!;
  }

  private async remove(key: string, graceSeconds?: number): Promise<void> {
    const r = this.pods.get(key);
    if (!r) return;
    r.deleted = true;
    await this.starting.get(key)?.catch(() => undefined);
    const grace = graceSeconds ?? (r.spec.terminationGracePeriodSeconds as number | undefined) ?? 30;
    await podman(['pod', 'rm', '-f', '-t', String(grace), r.podmanName], {
      timeoutMs: (grace + 60) * 1000,
    }).catch((err: unknown) => {
      if (!/no such pod/i.test(String(err))) throw err;
    });
    const left = await podman(['pod', 'exists', r.podmanName]).then(
      () => true,
      () => false,
    );
    if (left) throw new Error(`podman pod rm ${r.podmanName} returned but the pod is still there`);
    this.pods.delete(key);
    this.api.tokens.delete(r.token);
    fs.rmSync(path.join(this.opts.dir, `${r.namespace}_${r.name}`), { recursive: true, force: true });
  }

  /** Reports every pod's status, as the kubelet's status manager does. */
  private async sync(): Promise<void> {
    if (this.syncing) return;
    this.syncing = true;
    try {
      for (const r of this.pods.values()) {
        if (r.deleted || r.ids.size === 0) continue;
        await this.report(r).catch((err: unknown) => {
          if (!r.deleted) this.opts.onError(err);
        });
      }
    } finally {
      this.syncing = false;
    }
  }

  private async report(r: RunningPod): Promise<void> {
    const inspected = JSON.parse(await podman(['inspect', ...r.ids.values()])) as Json[];
    const byId = new Map(inspected.map((c) => [c.Id as string, c]));
    const statuses: Json[] = [];
    for (const c of r.spec.containers as Json[]) {
      const id = r.ids.get(c.name)!;
      const st = byId.get(id)?.State as Json | undefined;
      const running = st?.Status === 'running';
      const ready = running && (await this.probe(r, c, id));
      r.ready.set(c.name, ready);
      statuses.push({
        name: c.name,
        image: c.image,
        imageID: byId.get(id)?.Image,
        containerID: `podman://${id}`,
        ready,
        started: running,
        restartCount: byId.get(id)?.RestartCount ?? 0,
        state: running
          ? { running: { startedAt: st!.StartedAt } }
          : st?.Status === 'exited' || st?.Status === 'stopped'
            ? {
                terminated: {
                  exitCode: st.ExitCode,
                  reason: st.ExitCode === 0 ? 'Completed' : 'Error',
                  finishedAt: st.FinishedAt,
                },
              }
            : { waiting: { reason: 'ContainerCreating' } },
      });
    }
    const allReady = statuses.every((s) => s.ready);
    const anyRunning = statuses.some((s) => s.state.running);
    const allDone = statuses.every((s) => s.state.terminated);
    const cond = (type: string, ok: boolean) => ({ type, status: ok ? 'True' : 'False' });
    const status = {
      phase: anyRunning
        ? 'Running'
        : allDone
          ? statuses.every((s) => s.state.terminated.exitCode === 0)
            ? 'Succeeded'
            : 'Failed'
          : 'Pending',
      podIP: r.podIP,
      podIPs: r.podIP ? [{ ip: r.podIP }] : [],
      hostIP: this.opts.apiHost,
      startTime: r.startTime,
      conditions: [
        cond('PodScheduled', true),
        cond('Initialized', true),
        cond('ContainersReady', allReady),
        cond('Ready', allReady),
      ],
      containerStatuses: statuses,
    };
    const pods = this.api.resource('', 'pods');
    if (r.deleted || !this.api.store.has(pods, r.namespace, r.name)) return;
    const current = this.api.store.get(pods, r.namespace, r.name);
    if (JSON.stringify(current.status) === JSON.stringify(status)) return;
    this.api.store.patch(pods, r.namespace, r.name, 'merge', { status: null });
    this.api.store.patch(pods, r.namespace, r.name, 'merge', { status });
  }

  /** A container's readiness probe, as the kubelet runs it (exec, httpGet, tcpSocket). */
  private async probe(r: RunningPod, c: Json, id: string): Promise<boolean> {
    const p = c.readinessProbe as Json | undefined;
    if (!p) return true;
    const timeoutMs = ((p.timeoutSeconds as number | undefined) ?? 1) * 1000 + 4000;
    const port = (v: number | string) =>
      typeof v === 'number' ? v : ((c.ports ?? []) as Json[]).find((x) => x.name === v)?.containerPort;
    try {
      if (p.exec) {
        await podman(['exec', id, ...(p.exec.command as string[])], { timeoutMs });
        return true;
      }
      if (p.httpGet && r.podIP) {
        const scheme = (p.httpGet.scheme as string | undefined) ?? 'HTTP';
        const url = `${scheme.toLowerCase()}://${r.podIP}:${port(p.httpGet.port)}${p.httpGet.path ?? '/'}`;
        return await httpOk(url, timeoutMs);
      }
      if (p.tcpSocket && r.podIP) return await tcpOk(r.podIP, port(p.tcpSocket.port) as number, timeoutMs);
    } catch {
      return false;
    }
    return false;
  }
}

/**
 * `podman kube play` (4.3) re-encodes the pod's YAML and then fails to parse its own output when a
 * command or argument starts with a newline ("did not find expected '-' indicator", nothing says
 * where). Refused here with the container's name instead.
 */
function refuseLeadingNewlines(pod: KubeObject): void {
  const spec = pod.spec as Json;
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])] as Json[]) {
    for (const arg of [...((c.command ?? []) as string[]), ...((c.args ?? []) as string[])])
      if (arg.startsWith('\n'))
        throw new Error(
          `pod ${pod.metadata!.namespace}/${pod.metadata!.name}, container ${c.name}: a command or ` +
            'argument starts with a newline, which podman kube play cannot run; remove the newline',
        );
  }
}

/** The kubelet's HTTP probe: any 2xx/3xx, certificates not verified (as the kubelet does). */
function httpOk(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    const req = get(url, { rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function tcpOk(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: timeoutMs }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.on('timeout', () => (s.destroy(), resolve(false)));
  });
}

/** Pods left by an earlier run that died before cleaning up (its pid no longer exists). */
async function removeStalePods(): Promise<void> {
  const names = (await podman(['pod', 'ls', '--format', '{{.Name}}'])).split('\n').filter(Boolean);
  for (const n of names) {
    const pid = /^k8s-(\d+)-/.exec(n)?.[1];
    if (pid && !fs.existsSync(`/proc/${pid}`)) await podman(['pod', 'rm', '-f', '-t', '0', n]);
  }
}
