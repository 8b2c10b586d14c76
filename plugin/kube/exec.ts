/**
 * One control request to a pod's daemon: exec `chaosfs ctl` in the sidecar with the request on stdin
 * and read the reply from stdout. This is what `kubectl exec -i POD -c chaosfs -- chaosfs ctl` does,
 * so it needs only the user's RBAC on pods/exec, and the sidecar opens no port.
 *
 * Over WebSocket, stdin can be closed on its own only with v5.channel.k8s.io (Kubernetes >= 1.30);
 * older protocols close the whole connection instead, before ctl (which reads stdin to its end) could
 * answer. So the request is written only once the server has agreed on v5.
 */
import { PassThrough, Writable } from 'node:stream';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import WebSocket from 'ws';
import type { ControlReply, ControlRequest } from '../../sidecar/api/control';
import { PROTOCOL_VERSION } from '../../sidecar/api/control';
import { SIDECAR_NAME } from '../../sidecar/api/names';
import { UserError } from '../errors';
import { apiError, type ApiCall } from './api-errors';
import type { KubeTarget } from './kubeconfig';

export const CTL_COMMAND = ['chaosfs', 'ctl'];
const V5 = 'v5.channel.k8s.io';

/** An exec upgrade the API server answered with an HTTP status instead of 101, with its Status body. */
class UpgradeRefused extends Error {
  constructor(
    readonly code: number,
    readonly body: string,
  ) {
    super(`the API server answered the exec request with HTTP ${code}`);
  }
}

const PROTOCOLS = [V5, 'v4.channel.k8s.io'];

/**
 * The connection under client-node's Exec, as its own WebSocketHandler makes it but for one thing:
 * that handler reports a refused upgrade only as "Unexpected server response: 403", while the body
 * says who was refused what, so this one reads it.
 */
/** client-node's WebSocketInterface, which its index does not export. */
type WebSocketInterface = ConstructorParameters<typeof Exec>[1] & object;

class ExecSocket implements WebSocketInterface {
  constructor(private readonly kc: KubeConfig) {}

  async connect(
    path: string,
    _textHandler: ((text: string) => boolean) | null,
    binaryHandler: ((stream: number, buff: Buffer) => boolean) | null,
  ): Promise<WebSocket> {
    const server = this.kc.getCurrentCluster()!.server.replace(/^http/, 'ws').replace(/\/+$/, '');
    const opts: WebSocket.ClientOptions = {};
    await this.kc.applyToHTTPSOptions(opts);
    return new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(server + path, PROTOCOLS, opts);
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += body.length < 65536 ? d : ''));
        res.on('end', () => {
          reject(new UpgradeRefused(res.statusCode ?? 0, body));
          ws.terminate();
        });
      });
      ws.on('error', reject);
      ws.on('open', () => resolve(ws));
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary || data.length < 1) return;
        if (binaryHandler && !binaryHandler(data.readUInt8(0), data.subarray(1))) ws.close();
      });
    });
  }
}

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void) {
    this.text += chunk.toString('utf8');
    cb();
  }
}

export interface ExecOptions {
  /** Longer than the daemon's own limits: an inject waits for the worker, the mount and the fd swap. */
  timeoutMs?: number;
}

export async function execCtl<T>(
  kube: KubeTarget,
  namespace: string,
  pod: string,
  request: ControlRequest,
  opts: ExecOptions = {},
): Promise<ControlReply<T>> {
  const call: ApiCall = { verb: 'create', resource: 'pods/exec', namespace, name: pod };
  const exec = new Exec(kube.kc, new ExecSocket(kube.kc));
  const stdout = new Collect();
  const stderr = new Collect();
  const stdin = new PassThrough();
  let status: V1Status | undefined;
  let ws: WebSocket;
  try {
    ws = (await exec.exec(namespace, pod, SIDECAR_NAME, CTL_COMMAND, stdout, stderr, stdin, false, (s) => {
      status = s;
    })) as unknown as WebSocket;
  } catch (err) {
    const cause = err;
    if (cause instanceof UpgradeRefused) {
      throw apiError(
        kube,
        call,
        { code: cause.code, body: cause.body },
        () =>
          new UserError(
            `pod "${pod}" not found in namespace ${namespace} (it went away before the exec)`,
            `see what runs now: kubectl get pods -n ${namespace}`,
          ),
      );
    }
    throw apiError(kube, call, cause);
  }
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  if (ws.protocol !== V5) {
    ws.close();
    throw new UserError(
      `the API server speaks ${ws.protocol || 'no stream protocol'} for exec, not ${V5}, so the request cannot be sent on stdin`,
      'iochaos needs Kubernetes 1.30 or later for exec with stdin over WebSocket',
    );
  }
  stdin.end(JSON.stringify({ version: PROTOCOL_VERSION, ...request }) + '\n');
  const timeoutMs = opts.timeoutMs ?? 180_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    closed.then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    ws.terminate();
    throw new UserError(
      `no reply from the ${SIDECAR_NAME} sidecar of pod ${namespace}/${pod} within ${timeoutMs / 1000} s`,
      `see what the daemon did: kubectl logs ${pod} -n ${namespace} -c ${SIDECAR_NAME}; and check with: kubectl iochaos status pod/${pod} -n ${namespace}`,
    );
  }
  const line = stdout.text.trim().split('\n').pop() ?? '';
  try {
    const reply = JSON.parse(line) as ControlReply<T>;
    if (typeof reply === 'object' && reply !== null && typeof reply.ok === 'boolean') return reply;
  } catch {
    // Not a reply: ctl failed before it had one, or the exec itself failed; said below.
  }
  const said = (stderr.text.trim() || status?.message || '').replace(/^chaosfs: /, '');
  if (/no ChaosFS daemon or worker is listening/.test(said)) {
    throw new UserError(
      `the chaosfs daemon in pod ${namespace}/${pod} does not answer: ${said}`,
      `it may be restarting; read its log: kubectl logs ${pod} -n ${namespace} -c ${SIDECAR_NAME}`,
    );
  }
  throw new UserError(
    `exec of "${CTL_COMMAND.join(' ')}" in the ${SIDECAR_NAME} sidecar of pod ${namespace}/${pod} failed: ${said || `no reply (${status?.status ?? 'connection closed'})`}`,
    `check the sidecar image has the chaosfs command: kubectl logs ${pod} -n ${namespace} -c ${SIDECAR_NAME}`,
  );
}
