/**
 * `chaosfs health`, the sidecar's readiness probe, run for real: the exact command the webhook puts in
 * the probe, found on a PATH laid out as the sidecar image lays it out (the Dockerfile's `ln -s`), with
 * the environment the probe runs in. A healthy daemon passes; a stopped one, a missing socket and a
 * daemon that does not answer fail, each saying why.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HEALTH_COMMAND } from '../../sidecar/api/names';
import { sidecarContainer } from '../../webhook/mutate';
import { DEFAULT_INJECTION } from '../../webhook/config';
import { ROOT } from '../support/paths';
import { testDaemon, type TestDaemon } from '../support/daemon';

interface Probe {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

describe('chaosfs health: the readiness probe, run as the kubelet runs it', function () {
  this.timeout(60_000);
  let d: TestDaemon;
  let bin: string;

  /** The probe's command, resolved through PATH as the container runtime does, with `socket` as its env. */
  const probe = (env: NodeJS.ProcessEnv): Promise<Probe> => {
    const start = Date.now();
    const [cmd, ...args] = HEALTH_COMMAND;
    const child = spawn(cmd, args, {
      env: { PATH: `${bin}:/usr/bin:/bin`, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    return new Promise((resolve) =>
      child.on('close', (status) => resolve({ status, stdout, stderr, ms: Date.now() - start })),
    );
  };

  before(async () => {
    d = testDaemon();
    // `chaosfs` as the image has it: the Dockerfile links the package's bin onto PATH.
    const dockerfile = fs.readFileSync(path.join(ROOT, 'sidecar', 'Dockerfile'), 'utf8');
    const link = /ln -s \/app\/(\S+) \/usr\/local\/bin\/(\S+)/.exec(dockerfile);
    assert.ok(link, 'the Dockerfile puts a command on PATH with ln -s');
    assert.equal(link[2], HEALTH_COMMAND[0], "the command the Dockerfile puts on PATH is the probe's");
    bin = path.join(d.dir, 'image-bin');
    fs.mkdirSync(bin);
    // The node the image has is on its PATH; here it is wherever this node is.
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    fs.chmodSync(path.join(ROOT, link[1]), 0o755);
    fs.symlinkSync(path.join(ROOT, link[1]), path.join(bin, link[2]));
  });
  after(async () => {
    await d?.cleanup();
  });

  it("the webhook's probe is this command, and the probe and the daemon agree on the socket", () => {
    const c = sidecarContainer(DEFAULT_INJECTION);
    assert.deepEqual(c.readinessProbe?.exec?.command, HEALTH_COMMAND);
    assert.deepEqual(c.command, [HEALTH_COMMAND[0], 'daemon'], 'the daemon is the same program');
    // Both run in the one container: a socket set for one only would make the probe ask the wrong one.
    assert.ok(!(c.env ?? []).some((e) => e.name === 'IOCHAOS_SOCKET'), 'neither is given its own socket');
    assert.ok(!(c.args ?? []).some((a) => a.startsWith('--socket')));
  });

  it('a healthy daemon: exit 0', async () => {
    await d.start();
    const r = await probe({ IOCHAOS_SOCKET: d.socket });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'ok\n');
  });

  it('a daemon that does not answer: non-zero within the probe timeout, saying so', async () => {
    process.kill(d.process!.pid!, 'SIGSTOP');
    try {
      const r = await probe({ IOCHAOS_SOCKET: d.socket });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`^chaosfs: no reply from ${d.socket} within \\d+ ms\\n$`));
      // The webhook's probe gives up after timeoutSeconds: the command must have ended by then.
      const timeout = sidecarContainer(DEFAULT_INJECTION).readinessProbe!.timeoutSeconds!;
      assert.ok(r.ms < timeout * 1000 + 5000, `it ended in ${r.ms} ms, not after the kubelet gave up`);
    } finally {
      process.kill(d.process!.pid!, 'SIGCONT');
    }
  });

  it('a stopped daemon, and a socket that does not exist: non-zero, naming the socket', async () => {
    await d.stop();
    const stopped = await probe({ IOCHAOS_SOCKET: d.socket });
    assert.equal(stopped.status, 1);
    assert.equal(stopped.stdout, '');
    assert.equal(stopped.stderr, `chaosfs: no ChaosFS daemon or worker is listening on ${d.socket}\n`);

    const missing = path.join(os.tmpdir(), `iochaos-no-such-${process.pid}`, 'chaosfs.sock');
    const r = await probe({ IOCHAOS_SOCKET: missing });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `chaosfs: no ChaosFS daemon or worker is listening on ${missing}\n`);
  });
});
