/** The client side of the control protocol: one request, one reply. */
import * as net from 'node:net';
import { PROTOCOL_VERSION, type ControlReply, type ControlRequest } from '../api/control';

export class ControlUnreachable extends Error {
  constructor(
    readonly socketPath: string,
    cause: NodeJS.ErrnoException,
  ) {
    super(
      cause.code === 'ENOENT' || cause.code === 'ECONNREFUSED'
        ? `no ChaosFS daemon or worker is listening on ${socketPath}`
        : `cannot reach ${socketPath}: ${cause.message}`,
    );
    this.name = 'ControlUnreachable';
  }
}

/** Sends raw text (already a request line or not) and returns the raw reply line. */
export function sendRaw(socketPath: string, text: string, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socketPath);
    let reply = '';
    conn.setEncoding('utf8');
    conn.setTimeout(timeoutMs, () =>
      conn.destroy(new Error(`no reply from ${socketPath} within ${timeoutMs} ms`)),
    );
    conn.on('connect', () => conn.end(text.endsWith('\n') ? text : text + '\n'));
    conn.on('data', (d: string) => (reply += d));
    conn.on('error', (err: NodeJS.ErrnoException) =>
      reject(err.code ? new ControlUnreachable(socketPath, err) : err),
    );
    conn.on('close', () => resolve(reply.trim()));
  });
}

export async function request<T = unknown>(
  socketPath: string,
  req: ControlRequest,
  timeoutMs?: number,
): Promise<ControlReply<T>> {
  const line = await sendRaw(socketPath, JSON.stringify({ version: PROTOCOL_VERSION, ...req }), timeoutMs);
  if (line === '') throw new Error(`${socketPath} closed the connection without a reply`);
  return JSON.parse(line) as ControlReply<T>;
}
