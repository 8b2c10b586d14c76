/**
 * pods/exec for the stand-in, as the API server and kubelet serve it over WebSocket: the upgrade is
 * refused with a Status (404 for a missing pod, 400 for a container the pod lacks), else the server
 * picks v5.channel.k8s.io, and the command runs as a real process in the "container" the test maps the
 * pod's container to. Channel 0 is stdin (255,0 closes it), 1 and 2 are stdout and stderr, and 3
 * carries the final Status, with the exit code as the kubelet reports it.
 */
import { spawn } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { type ResourceType } from './resources';
import type { FakeApiServer } from './server';
import type { Status } from './status';
import { labelMatcher, podFieldMatcher } from './selectors';

/** Where and how a container runs commands: PATH finds argv[0], as the container runtime does. */
export interface ExecContainer {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** The argv that runs `command` there, when it is not the host (e.g. `podman exec -i CTR ...`). */
  argv?: (command: string[]) => string[];
}

export type ContainerLookup = (
  namespace: string,
  pod: string,
  container: string,
) => ExecContainer | undefined;

export const POD_RESOURCE: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'Pod',
  plural: 'pods',
  namespaced: true,
  shortNames: ['po'],
  subresources: [{ name: 'exec', verbs: ['create', 'get'] }],
};

export const WORKLOAD_RESOURCES: ResourceType[] = [
  {
    group: 'apps',
    version: 'v1',
    kind: 'Deployment',
    plural: 'deployments',
    namespaced: true,
    shortNames: ['deploy'],
  },
  {
    group: 'apps',
    version: 'v1',
    kind: 'StatefulSet',
    plural: 'statefulsets',
    namespaced: true,
    shortNames: ['sts'],
  },
];

const V5 = 'v5.channel.k8s.io';

function statusBody(code: number, reason: string, message: string, details?: Status['details']): Status {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
    details,
  };
}

function refuse(socket: Duplex, code: number, text: string, status: Status): void {
  const body = JSON.stringify(status);
  socket.end(
    `HTTP/1.1 ${code} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export interface ExecService {
  /** Every exec: pod, container and command, for assertions. */
  readonly calls: { namespace: string; pod: string; container: string; command: string[] }[];
  /** Refuse exec as RBAC would, for a user without `create pods/exec`. */
  forbid(user: string | undefined): void;
}

/** Adds pods (with exec), deployments and statefulsets to `api`, and serves exec. */
export function serveExec(api: FakeApiServer, lookup: ContainerLookup): ExecService {
  api.addResource(POD_RESOURCE);
  for (const t of WORKLOAD_RESOURCES) api.addResource(t);
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has(V5) ? V5 : false),
  });
  // The generic store lists everything; the plugin's selectors must narrow as the real server does.
  api.routes.add('GET', '/api/v1/namespaces/:namespace/pods', (ctx) => {
    if (['1', 'true'].includes(ctx.query.get('watch') ?? ''))
      return ctx.send(405, statusBody(405, 'MethodNotAllowed', 'the stand-in does not serve watches'));
    const labels = labelMatcher(ctx.query.get('labelSelector') ?? '');
    const fields = podFieldMatcher(ctx.query.get('fieldSelector') ?? '');
    const { items, resourceVersion } = api.store.list(POD_RESOURCE, ctx.params.namespace);
    ctx.send(200, {
      kind: 'PodList',
      apiVersion: 'v1',
      metadata: { resourceVersion },
      items: items.filter((o) => labels((o.metadata?.labels ?? {}) as Record<string, string>) && fields(o)),
    });
  });
  let forbiddenUser: string | undefined;
  const service: ExecService = {
    calls: [],
    forbid: (user) => (forbiddenUser = user),
  };
  api.routes.upgrade(
    '/api/v1/namespaces/:namespace/pods/:name/exec',
    (req: IncomingMessage, socket, head, params, query) => {
      const { namespace, name } = params;
      if (forbiddenUser !== undefined) {
        return refuse(
          socket,
          403,
          'Forbidden',
          statusBody(
            403,
            'Forbidden',
            `pods "${name}" is forbidden: User "${forbiddenUser}" cannot create resource "pods/exec" in API group "" in the namespace "${namespace}"`,
            { name, kind: 'pods' },
          ),
        );
      }
      if (!api.store.has(POD_RESOURCE, namespace, name)) {
        return refuse(
          socket,
          404,
          'Not Found',
          statusBody(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' }),
        );
      }
      const pod = api.store.get(POD_RESOURCE, namespace, name) as {
        spec?: { containers?: { name: string }[] };
      };
      const names = (pod.spec?.containers ?? []).map((c) => c.name);
      const container = query.get('container') ?? names[0] ?? '';
      const command = query.getAll('command');
      const where = container ? lookup(namespace, name, container) : undefined;
      if (!names.includes(container) || !where) {
        return refuse(
          socket,
          400,
          'Bad Request',
          statusBody(400, 'BadRequest', `container ${container} is not valid for pod ${name}`),
        );
      }
      if (command.length === 0) {
        return refuse(
          socket,
          400,
          'Bad Request',
          statusBody(400, 'BadRequest', 'you must specify at least 1 command'),
        );
      }
      service.calls.push({ namespace, pod: name, container, command });
      wss.handleUpgrade(req, socket, head, (ws) => run(ws, command, where, query.get('stdin') === 'true'));
    },
  );
  return service;
}

function run(ws: WebSocket, command: string[], where: ExecContainer, stdin: boolean): void {
  const send = (channel: number, data: Buffer | string) => {
    if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
  };
  const finish = (status: object) => {
    send(3, JSON.stringify(status));
    ws.close(1000);
  };
  const argv = where.argv ? where.argv(command) : command;
  const child = spawn(argv[0]!, argv.slice(1), {
    env: where.env,
    cwd: where.cwd,
    stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let started = true;
  child.on('error', (err: NodeJS.ErrnoException) => {
    started = false;
    // What containerd answers for a command the image does not have.
    finish({
      metadata: {},
      status: 'Failure',
      reason: 'InternalError',
      code: 500,
      message: `Internal error occurred: error executing command in container: failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: unable to start container process: exec: "${command[0]}": ${err.code === 'ENOENT' ? 'executable file not found in $PATH' : err.message}: unknown`,
    });
  });
  child.stdout!.on('data', (d: Buffer) => send(1, d));
  child.stderr!.on('data', (d: Buffer) => send(2, d));
  child.on('close', (code, signal) => {
    if (!started) return;
    if (code === 0) return finish({ metadata: {}, status: 'Success' });
    const exit = code ?? 128 + (signal ? 9 : 0);
    finish({
      metadata: {},
      status: 'Failure',
      message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exit}`,
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: String(exit) }] },
    });
  });
  ws.on('message', (data: Buffer) => {
    if (data.length === 0 || !child.stdin) return;
    if (data[0] === 0) child.stdin.write(data.subarray(1));
    else if (data[0] === 255 && data[1] === 0) child.stdin.end();
  });
  // A client that goes away takes its command with it, as the kubelet does.
  ws.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
}
