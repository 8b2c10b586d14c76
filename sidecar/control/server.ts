/**
 * A unix-socket server for the control protocol, for root only: the socket grants everything the
 * daemon can do (ptrace, mounts in any namespace). It is created 0600 (umask set around the bind, so
 * it is never briefly open to others, whatever the umask the daemon was started with), its directory
 * is made 0700 when created here, and every connection's SO_PEERCRED is checked: a peer that is not
 * uid 0 (in the daemon's user namespace) gets an error reply and nothing else. Whatever arrives — garbage, half a JSON, a huge line,
 * unknown fields, a client that never finishes — gets a clear error reply or a closed connection, and
 * the process serving it stays up.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  ControlError,
  MAX_REQUEST_BYTES,
  parseControlRequest,
  PROTOCOL_VERSION,
  type ControlReply,
  type ControlRequest,
} from '../api/control';
import { peerCred } from '../chaosfs/syscalls';

export type Handler = (request: ControlRequest) => Promise<unknown>;

/** How long a client may take to send its request. */
const REQUEST_TIMEOUT_MS = 10_000;

function failure(code: ControlError['code'], message: string, field?: string): ControlReply {
  return { version: PROTOCOL_VERSION, ok: false, error: { code, message, ...(field ? { field } : {}) } };
}

/** Parses and validates one request line; the error names what was wrong. */
export function parseRequest(line: string): ControlRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (err) {
    throw new ControlError('BadRequest', `request is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof raw === 'object' && raw !== null && 'version' in raw && raw.version !== PROTOCOL_VERSION) {
    throw new ControlError(
      'Unsupported',
      `protocol version ${typeof raw.version === 'number' ? raw.version : JSON.stringify(raw.version)} is not spoken here (this side speaks ${PROTOCOL_VERSION}): upgrade the older side`,
    );
  }
  return parseControlRequest(raw);
}

export async function answer(line: string, handler: Handler): Promise<ControlReply> {
  try {
    const result = await handler(parseRequest(line));
    return { version: PROTOCOL_VERSION, ok: true, result: result ?? null };
  } catch (err) {
    if (err instanceof ControlError) return failure(err.code, err.message, err.field);
    if (err instanceof Error && err.name === 'FaultSpecError') return failure('BadRequest', err.message);
    return failure('Internal', err instanceof Error ? err.message : String(err));
  }
}

export class ControlServer {
  private readonly server: net.Server;

  private constructor(
    readonly socketPath: string,
    handler: Handler,
  ) {
    // allowHalfOpen: a client ends its side once the request is sent, and still waits for the reply.
    this.server = net.createServer({ allowHalfOpen: true }, (conn) => {
      const refusal = refusePeer(conn);
      if (refusal) reject(conn, refusal);
      else serve(conn, handler);
    });
  }

  static async listen(socketPath: string, handler: Handler): Promise<ControlServer> {
    fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
    removeStaleSocket(socketPath);
    const s = new ControlServer(socketPath, handler);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      // The bind happens inside listen(), synchronously: the socket file is born 0600.
      const umask = process.umask(0o177);
      try {
        s.server.listen(socketPath, () => {
          s.server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(umask);
      }
    });
    const mode = fs.statSync(socketPath).mode & 0o777;
    if (mode !== 0o600) {
      await s.close();
      throw new Error(
        `${socketPath} was created with mode ${mode.toString(8)}, not 600: refusing to serve it`,
      );
    }
    s.server.on('error', () => {});
    return s;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    fs.rmSync(this.socketPath, { force: true });
  }
}

/** A socket file left by a process that died is removed; one that still answers is refused. */
function removeStaleSocket(socketPath: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(socketPath);
  } catch {
    return;
  }
  if (!st.isSocket())
    throw new Error(`${socketPath} exists and is not a socket: remove it or choose another path`);
  fs.rmSync(socketPath);
}

/** Why this connection's peer may not use the socket, or null when it is root. */
function refusePeer(conn: net.Socket): string | null {
  const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return 'cannot tell who connected (no socket fd)';
  let cred;
  try {
    cred = peerCred(fd);
  } catch (err) {
    return `cannot tell who connected: ${(err as Error).message}`;
  }
  if (cred.uid === 0) return null;
  return `permission denied: only root may use this control socket (you are uid ${cred.uid}, pid ${cred.pid})`;
}

/** Answers a refused peer with the reason and reads nothing it sent (closing with unread data would reset the reply). */
function reject(conn: net.Socket, reason: string): void {
  conn.on('error', () => conn.destroy());
  conn.setTimeout(REQUEST_TIMEOUT_MS, () => conn.destroy());
  conn.resume();
  conn.end(JSON.stringify(failure('BadRequest', reason)) + '\n');
}

function serve(conn: net.Socket, handler: Handler): void {
  let buffered = '';
  let dispatched = false;
  let done = false;
  const finish = (reply: ControlReply) => {
    if (done) return;
    done = true;
    conn.end(JSON.stringify(reply) + '\n');
  };
  conn.setTimeout(REQUEST_TIMEOUT_MS, () => {
    finish(failure('BadRequest', `no complete request within ${REQUEST_TIMEOUT_MS / 1000}s`));
    conn.destroy();
  });
  conn.on('error', () => conn.destroy());
  conn.setEncoding('utf8');
  const onRequest = (line: string) => {
    if (dispatched) return;
    dispatched = true;
    conn.setTimeout(0);
    answer(line, handler).then(finish, (err) => finish(failure('Internal', String(err))));
  };
  conn.on('data', (chunk: string) => {
    if (done || dispatched) return;
    buffered += chunk;
    const nl = buffered.indexOf('\n');
    if (nl >= 0) {
      conn.pause();
      onRequest(buffered.slice(0, nl));
      return;
    }
    if (buffered.length > MAX_REQUEST_BYTES) {
      // Reply, then read and drop the rest (closing with unread data would reset the connection and
      // lose the reply); a client that never stops is cut off by the timeout.
      buffered = '';
      finish(failure('BadRequest', `request larger than ${MAX_REQUEST_BYTES} bytes`));
      conn.setTimeout(REQUEST_TIMEOUT_MS, () => conn.destroy());
    }
  });
  // A client that half-closes without a newline sent its whole request.
  conn.on('end', () => {
    if (dispatched || done) return;
    if (buffered.trim() !== '') onRequest(buffered);
    else finish(failure('BadRequest', 'empty request'));
  });
}
