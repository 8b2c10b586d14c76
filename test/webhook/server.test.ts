/**
 * The HTTPS server as the API server meets it: a verified TLS round trip, TLS versions, health and
 * metrics, JSON logs, every kind of bad input, slow clients, and certificate swaps.
 */
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createBundle, createServingCert } from '../../webhook/certs';
import { mutatePod } from '../../webhook/mutate';
import { INTERNAL_ERROR_WARNING } from '../../webhook/server';
import { CASES, barePod, review } from './fixtures';
import { type Json, type TestWebhook, startWebhook } from './helpers';

function tlsConnect(port: number, opts: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...opts }, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Resolves with how long the server took to close a connection that we leave stalled, counted from
 * `t0`: the moment the socket was created, where the server's timeouts start too.
 */
function timeUntilClosed(socket: net.Socket, t0: number): Promise<number> {
  return new Promise((resolve) => {
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Date.now() - t0));
    socket.resume();
  });
}

describe('webhook: HTTPS server', () => {
  let wh: TestWebhook;
  before(async () => (wh = await startWebhook()));
  after(async () => wh.close());

  it('round trip verified against the CA it generated; a different CA is refused', async () => {
    const s = await tlsConnect(wh.port, { ca: wh.ca });
    assert.equal(s.authorized, true);
    const alt = (s.getPeerCertificate().subjectaltname ?? '').split(', ');
    assert.ok(alt.includes('DNS:localhost'), alt.join(' '));
    s.destroy();
    const { status, json } = await wh.post(CASES['bare-pod']());
    assert.equal(status, 200);
    assert.equal(json.response.allowed, true);
    const other = createBundle(['localhost']);
    await assert.rejects(
      tlsConnect(wh.port, { ca: other.caBundle }),
      /self[- ]signed|unable to verify|unable to get local issuer/i,
    );
  });

  it('speaks TLS 1.2 and 1.3, and refuses TLS 1.1', async () => {
    for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
      const s = await tlsConnect(wh.port, { ca: wh.ca, minVersion: v, maxVersion: v });
      assert.equal(s.getProtocol(), v);
      s.destroy();
    }
    // SECLEVEL=0 lets this client offer TLS 1.1 at all, so a refusal is the server's doing.
    await assert.rejects(
      tlsConnect(wh.port, {
        ca: wh.ca,
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
        ciphers: 'DEFAULT@SECLEVEL=0',
      }),
      /protocol version|unsupported protocol|wrong version/i,
    );
  });

  it('/healthz, /readyz and /metrics (Prometheus text with requests, injections, errors, latency)', async () => {
    assert.equal((await wh.request({ path: '/healthz' })).status, 200);
    assert.equal((await wh.request({ path: '/readyz' })).status, 200);
    await wh.post(CASES['deployment-pod']());
    await wh.post('{');
    const m = await wh.request({ path: '/metrics' });
    assert.equal(m.status, 200);
    assert.match(String(m.headers['content-type']), /text\/plain/);
    assert.match(m.body, /^iochaos_webhook_requests_total\{code="200"\} [1-9]/m);
    assert.match(m.body, /^iochaos_webhook_injections_total [1-9]/m);
    assert.match(m.body, /^iochaos_webhook_errors_total\{kind="bad_request"\} [1-9]/m);
    assert.match(m.body, /^iochaos_webhook_admission_duration_seconds_bucket\{le="0.005"\} [1-9]/m);
    assert.match(m.body, /^iochaos_webhook_admission_duration_seconds_count [1-9]/m);
  });

  it('logs one JSON object per line, with level, time and message', async () => {
    await wh.post(CASES['deployment-pod']());
    const injected = [...wh.logs.lines].reverse().find((l) => l.msg === 'injected chaosfs sidecar');
    assert.ok(injected, 'no injection log line');
    assert.equal(injected.level, 'info');
    assert.equal(injected.namespace, 'shop');
    assert.equal(injected.generateName, 'shop-api-6d8f9c7b54-');
    assert.ok(typeof injected.time === 'string' && typeof injected.uid === 'string');
  });

  const good = () => CASES['bare-pod']() as Json;
  const bad: [string, () => unknown, RegExp][] = [
    ['malformed JSON', () => '{"apiVersion": "admission.k8s.io/v1", "kind": ', /not valid JSON/],
    ['a JSON array', () => '[1,2]', /body is an array/],
    ['JSON null', () => 'null', /body is null/],
    ['a JSON string', () => '"AdmissionReview"', /body is "AdmissionReview"/],
    ['the wrong kind', () => ({ ...good(), kind: 'Pod' }), /kind is "Pod"/],
    [
      'the wrong version',
      () => ({ ...good(), apiVersion: 'admission.k8s.io/v1beta1' }),
      /only admission.k8s.io\/v1 is served/,
    ],
    ['no request', () => ({ ...good(), request: undefined }), /request is missing/],
    [
      'a missing uid',
      () => {
        const r = good();
        delete r.request.uid;
        return r;
      },
      /request.uid is missing/,
    ],
    [
      'an empty uid',
      () => {
        const r = good();
        r.request.uid = '';
        return r;
      },
      /request.uid is ""/,
    ],
    [
      'a uid that is a number',
      () => {
        const r = good();
        r.request.uid = 42;
        return r;
      },
      /request.uid is a number/,
    ],
    [
      'no request.kind',
      () => {
        const r = good();
        delete r.request.kind;
        return r;
      },
      /request.kind is missing/,
    ],
    [
      'an object that is a Deployment',
      () => {
        const r = good();
        r.request.object = { kind: 'Deployment', spec: {} };
        return r;
      },
      /request.object.kind is "Deployment"/,
    ],
    [
      'an object that is a string',
      () => {
        const r = good();
        r.request.object = 'pod';
        return r;
      },
      /request.object is "pod"/,
    ],
    [
      'no object',
      () => {
        const r = good();
        delete r.request.object;
        return r;
      },
      /request.object is missing/,
    ],
    [
      'a pod without spec',
      () => {
        const r = good();
        delete r.request.object.spec;
        return r;
      },
      /spec is missing/,
    ],
    [
      'containers that are not a list',
      () => {
        const r = good();
        r.request.object.spec.containers = { name: 'a' };
        return r;
      },
      /spec.containers is a object/,
    ],
    [
      'annotations that are a list',
      () => {
        const r = good();
        r.request.object.metadata.annotations = ['x'];
        return r;
      },
      /annotations is an array/,
    ],
    [
      'an annotation value that is not a string',
      () => {
        const r = good();
        r.request.object.metadata.annotations['iochaos.dev/inject'] = true;
        return r;
      },
      /annotations\["iochaos.dev\/inject"\] is a boolean: values are strings/,
    ],
    [
      'a namespace that is a number',
      () => {
        const r = good();
        r.request.namespace = 7;
        return r;
      },
      /request.namespace is a number/,
    ],
  ];
  for (const [what, body, message] of bad) {
    it(`a review with ${what} gets 400 with a message, and the server keeps serving`, async () => {
      const { status, json } = await wh.post(body());
      assert.equal(status, 400);
      assert.equal(json.kind, 'Status');
      assert.equal(json.reason, 'BadRequest');
      assert.match(json.message, /^malformed AdmissionReview: /);
      assert.match(json.message, message);
      assert.equal((await wh.post(good())).status, 200);
    });
  }

  it('a well-formed review for something other than a Pod CREATE is allowed, unpatched, with a warning', async () => {
    const dep = good();
    dep.request.kind = { group: 'apps', version: 'v1', kind: 'Deployment' };
    dep.request.object = { kind: 'Deployment', spec: {} };
    const upd = good();
    upd.request.operation = 'UPDATE';
    const exec = good();
    exec.request.subResource = 'exec';
    for (const [rev, re] of [
      [dep, /apps\/v1 Deployment/],
      [upd, /only handles CREATE/],
      [exec, /Pod\/exec/],
    ] as const) {
      const { status, json } = await wh.post(rev);
      assert.equal(status, 200);
      assert.equal(json.response.allowed, true);
      assert.equal(json.response.patch, undefined);
      assert.match(json.response.warnings[0], re);
    }
  });

  it('a body that is not application/json gets 415', async () => {
    const r = await wh.request({
      method: 'POST',
      path: '/mutate',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify(good()),
    });
    assert.equal(r.status, 415);
    assert.match(JSON.parse(r.body).message, /send application\/json/);
  });

  it('other paths and methods get a JSON 404 naming POST /mutate', async () => {
    const r = await wh.request({ method: 'GET', path: '/mutate' });
    assert.equal(r.status, 404);
    assert.match(JSON.parse(r.body).message, /POST \/mutate/);
  });

  it('an oversized body gets 413 and does not stop the server', async () => {
    const small = await startWebhook({ server: { bodyLimitBytes: 64 * 1024 } });
    try {
      const rev = good();
      rev.request.object.metadata.annotations.big = 'x'.repeat(100 * 1024);
      const r = await small.request({
        method: 'POST',
        path: '/mutate',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(rev),
      });
      assert.equal(r.status, 413);
      assert.match(JSON.parse(r.body).message, /65536 byte limit/);
      // A length-less (chunked) body is counted as it streams, not trusted from a header.
      const chunked = await small.request({
        method: 'POST',
        path: '/mutate',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        body: JSON.stringify(rev),
      });
      assert.equal(chunked.status, 413);
      assert.equal((await small.post(good())).status, 200);
    } finally {
      await small.close();
    }
  });

  it('an internal error admits the pod unmutated, with a warning, and is logged', async () => {
    const broken = await startWebhook({
      mutate: () => {
        throw new Error('simulated bug in the mutation');
      },
    });
    try {
      const rev = CASES['deployment-pod']() as Json;
      const { status, json } = await broken.post(rev);
      assert.equal(status, 200);
      assert.deepEqual(json.response, {
        uid: rev.request.uid,
        allowed: true,
        warnings: [INTERNAL_ERROR_WARNING],
      });
      const line = broken.logs.lines.find((l) => l.level === 'error');
      assert.ok(line, 'nothing logged at error level');
      assert.equal(line.uid, rev.request.uid);
      assert.match(JSON.stringify(line.err), /simulated bug in the mutation/);
      const m = await broken.request({ path: '/metrics' });
      assert.match(m.body, /^iochaos_webhook_errors_total\{kind="internal"\} 1$/m);
    } finally {
      await broken.close();
    }
  });

  it('slow clients are cut off (handshake, headers, body) while others are served', async () => {
    const strict = await startWebhook({
      server: { handshakeTimeoutMs: 500, headersTimeoutMs: 500, requestTimeoutMs: 1000 },
    });
    try {
      // TCP connect, then no TLS ClientHello at all.
      const rawStart = Date.now();
      const raw = net.connect(strict.port, '127.0.0.1');
      const rawClosed = timeUntilClosed(raw, rawStart);
      // TLS done, then half a request line and nothing more.
      const halfStart = Date.now();
      const half = await tlsConnect(strict.port, { ca: strict.ca });
      half.write('POST /mutate HTTP/1.1\r\nHost: localhost\r\n');
      // Headers done, then a body that never completes.
      const bodyStart = Date.now();
      const body = await tlsConnect(strict.port, { ca: strict.ca });
      body.write(
        'POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"a":',
      );
      const closed = Promise.all([
        rawClosed,
        timeUntilClosed(half, halfStart),
        timeUntilClosed(body, bodyStart),
      ]);
      assert.equal((await strict.post(good())).status, 200, 'served others while three clients stalled');
      const [tRaw, tHalf, tBody] = await closed;
      for (const [what, t, limit] of [
        ['handshake', tRaw, 500],
        ['headers', tHalf, 500],
        ['body', tBody, 1000],
      ] as const) {
        assert.ok(
          // Loose: Node's own defaults (2 min handshake, 60 s headers, 5 min request) are far above.
          t >= limit * 0.8 && t < limit + 5000,
          `${what}: closed after ${t} ms, timeout is ${limit} ms`,
        );
      }
    } finally {
      await strict.close();
    }
  });

  it('serves a new certificate to new connections after setTls, without a restart', async () => {
    // Its own server: the shared one must keep the certificate the other tests trust.
    const own = await startWebhook();
    try {
      const s1 = await tlsConnect(own.port, { ca: own.ca });
      const before = s1.getPeerCertificate().fingerprint256;
      s1.destroy();
      const ca = createBundle(['localhost']).ca;
      own.server.setTls(createServingCert(ca, ['localhost']));
      const s2 = await tlsConnect(own.port, { ca: ca.cert });
      assert.notEqual(s2.getPeerCertificate().fingerprint256, before);
      s2.destroy();
    } finally {
      await own.close();
    }
  });

  it('a malformed review never reaches the mutation: bad input is not an internal error', async () => {
    let mutations = 0;
    const counted = await startWebhook({
      mutate: (...args) => {
        mutations++;
        return mutatePod(...args);
      },
    });
    try {
      for (const [what, body] of bad) {
        assert.equal((await counted.post(body())).status, 400, what);
        assert.equal(mutations, 0, `a review with ${what} reached the mutation`);
      }
      assert.deepEqual(
        counted.logs.lines.filter((l) => l.level === 'error'),
        [],
        'bad input is logged as such, never as an internal error',
      );
      // The counter is wired: a good review does reach the mutation, once.
      assert.equal((await counted.post(review(barePod(), { namespace: 'default' }))).status, 200);
      assert.equal(mutations, 1);
    } finally {
      await counted.close();
    }
  });
});
