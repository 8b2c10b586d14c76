/**
 * `iochaos-webhook` as a process: help and usage errors, --self-signed, --cert-dir, and the
 * in-cluster Secret mode with two replicas against the API stand-in.
 */
import * as assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { promisify } from 'node:util';
import { createBundle, createServingCert } from '../../webhook/certs';
import { serviceDnsNames } from '../../webhook/config';
import { FakeApiServer } from '../support/apiserver';
import { CASES } from './fixtures';
import { type Json, REPO_ROOT } from './helpers';
import { useScratch } from '../support/scratch';

const CLI = path.join(REPO_ROOT, 'dist/webhook/cli.js');

interface Proc {
  child: ChildProcess;
  port: number;
  lines: Json[];
  stderr: () => string;
}

/** Starts the CLI and resolves once it logs "listening" (or rejects with what it said instead). */
function start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Proc> {
  const defaults = ['--port=0', '--host=127.0.0.1', '--shutdown-delay=300ms'].filter(
    (d) => !args.some((a) => a.startsWith(d.split('=')[0]!)),
  );
  const child = spawn(process.execPath, [CLI, ...defaults, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Json[] = [];
  let err = '';
  let buf = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" within 20 s; stderr: ${err}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as Json;
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (line.msg === 'listening') {
          clearTimeout(timer);
          resolve({ child, port: line.port, lines, stderr: () => err });
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before listening: ${err}${JSON.stringify(lines)}`));
    });
  });
}

function stop(p: Proc): Promise<number | null> {
  if (p.child.exitCode !== null) return Promise.resolve(p.child.exitCode);
  return new Promise((resolve) => {
    p.child.once('exit', (code) => resolve(code));
    p.child.kill('SIGTERM');
  });
}

function get(
  port: number,
  ca: string,
  p: string,
  servername = 'localhost',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path: p, ca, servername }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

function peerCert(port: number, ca: string, servername: string): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername }, () => {
      resolve(s.getPeerCertificate());
      s.destroy();
    });
    s.on('error', reject);
  });
}

const run = promisify(execFile);
describe('iochaos-webhook (the command)', function () {
  const tmp = useScratch('iochaos-cli-');
  this.timeout(60_000);
  const procs: Proc[] = [];
  afterEach(async () => {
    await Promise.all(procs.splice(0).map(stop));
  });

  it('--help shows examples first, then the flags', async () => {
    const { stdout } = await run(process.execPath, [CLI, '--help']);
    const ex = stdout.indexOf('Examples:');
    assert.ok(ex >= 0 && ex < stdout.indexOf('--port'), stdout);
    for (const flag of ['--self-signed', '--cert-dir', '--port', '--sidecar-image', '--namespaces'])
      assert.ok(stdout.includes(flag), flag);
  });

  const usage: [string[], RegExp][] = [
    [
      ['--self-signed', '--cert-dir', '/tmp'],
      /--self-signed and --cert-dir both give the certificate: pass one of them/,
    ],
    [['--write-ca', '/tmp/x'], /--write-ca only applies with --self-signed/],
    [['--self-signed', '--port', '70000'], /--port 70000 is not a TCP port/],
    [
      ['--self-signed', '--request-timeout', '10'],
      /--request-timeout "10" is not a duration: use e.g. 500ms/,
    ],
    [['--self-signed', '--namespaces', 'Bad_NS'], /--namespaces "Bad_NS" is not a valid Kubernetes name/],
    [['--self-signed', '--body-limit', '1Ki'], /--body-limit below 64Ki/],
    [
      ['--self-signed', '--sidecar-profile', 'root'],
      /--sidecar-profile root: use privileged or capabilities/,
    ],
    [['--bogus'], /Unknown argument: bogus/],
  ];
  for (const [args, message] of usage) {
    it(`refuses ${args.join(' ')} with exit 2 and a message`, async () => {
      const err = (await run(process.execPath, [CLI, ...args]).catch((e: unknown) => e)) as {
        code: number;
        stderr: string;
      };
      assert.equal(err.code, 2, JSON.stringify(err));
      assert.match(err.stderr, message);
      assert.match(err.stderr, /See 'iochaos-webhook --help'/);
    });
  }

  it('--cert-dir that lacks the files says which, and exits 1', async () => {
    const err = (await run(process.execPath, [CLI, '--cert-dir', '/nonexistent', '--port=0']).catch(
      (e: unknown) => e,
    )) as {
      code: number;
      stderr: string;
    };
    assert.equal(err.code, 1);
    assert.match(err.stderr, /cannot read the serving certificate from --cert-dir \/nonexistent: .*tls.crt/);
  });

  it('--self-signed makes its certificates in memory, says it skips the caBundle, and serves verified TLS', async () => {
    const caFile = path.join(tmp(), 'ca.crt');
    const p = await start(['--self-signed', `--write-ca=${caFile}`]);
    procs.push(p);
    assert.ok(
      p.lines.some((l) => /not writing any caBundle/.test(l.msg)),
      JSON.stringify(p.lines),
    );
    const ca = fs.readFileSync(caFile, 'utf8');
    assert.equal((await get(p.port, ca, '/readyz')).status, 200);
    const res = await new Promise<Json>((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: p.port,
          path: '/mutate',
          method: 'POST',
          ca,
          servername: 'localhost',
          headers: { 'content-type': 'application/json' },
        },
        (r) => {
          let b = '';
          r.on('data', (d) => (b += d));
          r.on('end', () => resolve(JSON.parse(b)));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(CASES['deployment-pod']()));
    });
    assert.equal(res.response.allowed, true);
    assert.ok(res.response.patch);
  });

  it('SIGTERM: /readyz turns 503 during the shutdown delay, then the process exits 0', async () => {
    const caFile = path.join(tmp(), 'ca.crt');
    const p = await start(['--self-signed', `--write-ca=${caFile}`, '--shutdown-delay=1500ms']);
    const ca = fs.readFileSync(caFile, 'utf8');
    const exited = new Promise((resolve) => p.child.once('exit', resolve));
    p.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await get(p.port, ca, '/readyz')).status, 503);
    assert.equal(await exited, 0);
  });

  it('--cert-dir serves tls.crt/tls.key from the directory and picks up a replaced certificate', async () => {
    const dir = tmp();
    const b = createBundle(['localhost']);
    fs.writeFileSync(path.join(dir, 'tls.crt'), b.serving.cert);
    fs.writeFileSync(path.join(dir, 'tls.key'), b.serving.key);
    const p = await start([`--cert-dir=${dir}`, '--resync=200ms']);
    procs.push(p);
    const first = await peerCert(p.port, b.caBundle, 'localhost');
    const next = createServingCert(b.ca, ['localhost']);
    fs.writeFileSync(path.join(dir, 'tls.key'), next.key);
    fs.writeFileSync(path.join(dir, 'tls.crt'), next.cert);
    let now = first;
    for (let i = 0; i < 50 && now.fingerprint256 === first.fingerprint256; i++) {
      await new Promise((r) => setTimeout(r, 100));
      now = await peerCert(p.port, b.caBundle, 'localhost');
    }
    assert.notEqual(now.fingerprint256, first.fingerprint256, 'the new certificate was never served');
  });

  it('in-cluster mode, two replicas: one Secret, caBundle = its CA, both serve certs that verify for the Service name', async () => {
    const api = await FakeApiServer.start();
    try {
      api.create('', 'namespaces', undefined, { metadata: { name: 'iochaos-system' } });
      api.create('admissionregistration.k8s.io', 'mutatingwebhookconfigurations', undefined, {
        metadata: { name: 'iochaos-webhook' },
        webhooks: [
          {
            name: 'inject.iochaos.dev',
            clientConfig: {
              service: { name: 'iochaos-webhook', namespace: 'iochaos-system', path: '/mutate' },
            },
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
          },
        ],
      });
      const kubeconfig = api.writeKubeconfig(path.join(tmp(), 'config'));
      const args = [`--kubeconfig=${kubeconfig}`, '--resync=300ms'];
      const [a, b] = await Promise.all([
        start(args, { POD_NAMESPACE: 'iochaos-system' }),
        start(args, { POD_NAMESPACE: 'iochaos-system' }),
      ]);
      procs.push(a, b);
      assert.equal(api.store.list(api.resource('', 'secrets'), 'iochaos-system').items.length, 1);
      const secret = api.get('', 'secrets', 'iochaos-system', 'iochaos-webhook-tls') as Json;
      const ca = Buffer.from(secret.data['ca-bundle.crt'], 'base64').toString();
      const mwc = api.get(
        'admissionregistration.k8s.io',
        'mutatingwebhookconfigurations',
        undefined,
        'iochaos-webhook',
      ) as Json;
      assert.equal(Buffer.from(mwc.webhooks[0].clientConfig.caBundle, 'base64').toString(), ca);
      // What the API server does: dial the Service name and verify against the caBundle.
      const certs = await Promise.all(
        [a, b].map((p) => peerCert(p.port, ca, 'iochaos-webhook.iochaos-system.svc')),
      );
      assert.equal(certs[0]!.fingerprint256, certs[1]!.fingerprint256);
      const before = api.requests.filter((r) => r.method !== 'GET').length;
      await new Promise((r) => setTimeout(r, 1500)); // several resyncs of both replicas
      const writesDuringResync = api.requests.filter((r) => r.method !== 'GET').slice(before);
      assert.deepEqual(writesDuringResync, [], 'resyncs wrote something');
      assert.ok(api.requests.slice(before).length >= 4, 'the replicas did not resync');

      // Another replica renews the serving certificate in the Secret: both pick it up, no restart.
      const dec = (k: string) => Buffer.from(secret.data[k], 'base64').toString();
      const renewed = createServingCert(
        { cert: dec('ca.crt'), key: dec('ca.key') },
        serviceDnsNames({ serviceName: 'iochaos-webhook', namespace: 'iochaos-system' }),
      );
      const writesBefore = api.requests.filter((r) => r.method !== 'GET').length;
      const current = api.get('', 'secrets', 'iochaos-system', 'iochaos-webhook-tls') as Json;
      current.data['tls.crt'] = Buffer.from(renewed.cert).toString('base64');
      current.data['tls.key'] = Buffer.from(renewed.key).toString('base64');
      api.store.update(api.resource('', 'secrets'), 'iochaos-system', 'iochaos-webhook-tls', current);
      for (const p of [a, b]) {
        let fp = certs[0]!.fingerprint256;
        for (let i = 0; i < 50 && fp === certs[0]!.fingerprint256; i++) {
          await new Promise((r) => setTimeout(r, 100));
          fp = (await peerCert(p.port, ca, 'iochaos-webhook.iochaos-system.svc')).fingerprint256;
        }
        assert.notEqual(fp, certs[0]!.fingerprint256, 'a replica kept serving the old certificate');
        assert.equal(fp, (await peerCert(p.port, ca, 'iochaos-webhook.iochaos-system.svc')).fingerprint256);
      }
      assert.equal(
        api.requests.filter((r) => r.method !== 'GET').length,
        writesBefore,
        'a replica re-renewed instead of adopting',
      );
    } finally {
      await Promise.all(procs.splice(0).map(stop));
      await api.close();
    }
  });

  it('in-cluster mode without access says what failed and exits 1', async () => {
    const api = await FakeApiServer.start();
    try {
      const kubeconfig = api.writeKubeconfig(path.join(tmp(), 'config'));
      // The namespace does not exist: creating the Secret fails with NotFound.
      const err = (await run(process.execPath, [
        CLI,
        `--kubeconfig=${kubeconfig}`,
        '--namespace=nowhere',
        '--port=0',
      ]).catch((e: unknown) => e)) as { code: number; stderr: string };
      assert.equal(err.code, 1);
      assert.match(
        err.stderr,
        /cannot write Secret nowhere\/iochaos-webhook-tls: namespaces "nowhere" not found/,
      );
    } finally {
      await api.close();
    }
  });
});
