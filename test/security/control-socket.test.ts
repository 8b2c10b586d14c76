/**
 * Issue 10, item 7: the control socket serves root only. It is born 0600 whatever the umask, and a
 * peer that is not uid 0 is refused by its SO_PEERCRED even when it can reach the socket file.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROTOCOL_VERSION } from '../../sidecar/api/control';
import { request } from '../../sidecar/control/client';
import { ControlServer } from '../../sidecar/control/server';
import { requireRootAndFuse } from '../support/root';

/** Sends one request line as uid 1000 (python3, so nothing under the repo must be readable by it). */
function askAsUser(socket: string, line: string) {
  const py = `import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()+b"\\n"); s.shutdown(socket.SHUT_WR)
out=b""
while True:
  b=s.recv(65536)
  if not b: break
  out+=b
sys.stdout.write(out.decode())`;
  // Asynchronous: the server answers from this same process's event loop.
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
    execFile(
      'setpriv',
      ['--reuid', '1000', '--regid', '1000', '--clear-groups', '/usr/bin/python3', '-c', py, socket, line],
      { encoding: 'utf8', timeout: 30_000 },
      (err, stdout, stderr) => resolve({ status: err ? 1 : 0, stdout, stderr }),
    ),
  );
}

describe('security: the control socket (issue 10, item 7)', () => {
  let dir: string;
  let server: ControlServer | undefined;
  const served: string[] = [];
  const listen = (socket: string) =>
    ControlServer.listen(socket, async (req) => {
      served.push(req.op);
      return { healthy: true };
    });

  before(() => requireRootAndFuse());
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-sock-'));
    fs.chmodSync(dir, 0o777); // as world-writable as /tmp: the socket's own mode and the peer check must hold
    served.length = 0;
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is created 0600 with umask 000, and a directory it creates is 0700', async () => {
    const old = process.umask(0);
    try {
      server = await listen(path.join(dir, 'run', 'chaosfs.sock'));
    } finally {
      process.umask(old);
    }
    assert.equal((fs.statSync(server.socketPath).mode & 0o777).toString(8), '600');
    assert.equal((fs.statSync(path.join(dir, 'run')).mode & 0o777).toString(8), '700');
    assert.equal(process.umask(), old, 'the umask is restored');
  });

  it('refuses a uid-1000 peer that can reach it, with a clear error, and serves root', async () => {
    server = await listen(path.join(dir, 'chaosfs.sock'));
    fs.chmodSync(server.socketPath, 0o666); // as if the mode check could be bypassed
    const r = await askAsUser(server.socketPath, JSON.stringify({ version: PROTOCOL_VERSION, op: 'health' }));
    assert.equal(r.status, 0, r.stderr);
    const reply = JSON.parse(r.stdout);
    assert.equal(reply.ok, false);
    assert.match(reply.error.message, /only root may use this control socket \(you are uid 1000, pid \d+\)/);
    assert.deepEqual(served, [], 'the request never reached the handler');
    const root = await request(server.socketPath, { op: 'health' });
    assert.equal(root.ok, true);
    assert.deepEqual(served, ['health']);
  });

  it('a uid-1000 client cannot connect to it at its own mode', async () => {
    server = await listen(path.join(dir, 'chaosfs.sock'));
    const r = await askAsUser(server.socketPath, JSON.stringify({ version: PROTOCOL_VERSION, op: 'health' }));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /PermissionError: \[Errno 13\] Permission denied/);
    assert.deepEqual(served, []);
  });
});
