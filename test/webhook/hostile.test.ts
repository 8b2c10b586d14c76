/**
 * Hostile AdmissionReviews, as regression tests: each gets a 400, 413 or 415 Status naming what was
 * wrong, or `allowed` (with a warning where the webhook had something to say); never a 500, never an
 * internal error, never a crash, and the server keeps serving. server.test.ts covers the envelope
 * (bad JSON, non-objects, wrong kind/apiVersion, missing/empty/numeric uid, missing request, kind or
 * object, a Deployment or a string as the object, no spec, containers not a list, annotations not
 * strings, a numeric namespace, non-Pod and non-CREATE reviews, text/plain, oversized and chunked
 * bodies, slow clients); this file the rest.
 */
import * as assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { INJECT_ANNOTATION } from '../../sidecar/api/names';
import { CASES } from './fixtures';
import { type Json, type TestWebhook, startWebhook } from './helpers';

const good = () => CASES['bare-pod']() as Json;
const withPod = (edit: (pod: Json) => void) => () => {
  const r = good();
  edit(r.request.object);
  return r;
};
const withRequest = (edit: (req: Json) => void) => () => {
  const r = good();
  edit(r.request);
  return r;
};

/** What the server must answer: a status, and a pattern for the Status message or the first warning. */
type Expect =
  { status: 400 | 413 | 415; message: RegExp } | { status: 200; patched: boolean; warning?: RegExp };

interface Case {
  what: string;
  body: () => unknown;
  headers?: Record<string, string>;
  expect: Expect;
}

const deep = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

const CASES_HOSTILE: Case[] = [
  {
    what: 'containers: null',
    body: withPod((p) => (p.spec.containers = null)),
    expect: { status: 400, message: /spec.containers is null: expected a list of objects/ },
  },
  {
    what: 'a container that is null',
    body: withPod((p) => p.spec.containers.push(null)),
    expect: { status: 400, message: /spec.containers is an array: expected a list of objects/ },
  },
  {
    what: 'initContainers that are a string',
    body: withPod((p) => (p.spec.initContainers = 'chaosfs')),
    expect: { status: 400, message: /spec.initContainers is "chaosfs"/ },
  },
  {
    what: 'volumes that are an object',
    body: withPod((p) => (p.spec.volumes = { a: {} })),
    expect: { status: 400, message: /spec.volumes is a object/ },
  },
  {
    what: 'metadata: null',
    body: withPod((p) => (p.metadata = null)),
    expect: { status: 400, message: /metadata is null: expected an object/ },
  },
  {
    what: 'labels that are a string',
    body: withPod((p) => (p.metadata.labels = 'iochaos.dev/inject=true')),
    expect: { status: 400, message: /metadata.labels is "iochaos.dev\/inject=true"/ },
  },
  {
    what: 'a label value that is a boolean',
    body: withPod((p) => (p.metadata.labels[INJECT_ANNOTATION] = true)),
    expect: {
      status: 400,
      message: /metadata.labels\["iochaos.dev\/inject"\] is a boolean: values are strings/,
    },
  },
  {
    what: 'an annotation value that is null',
    body: withPod((p) => (p.metadata.annotations[INJECT_ANNOTATION] = null)),
    expect: { status: 400, message: /annotations\["iochaos.dev\/inject"\] is null/ },
  },
  {
    what: 'spec: an array',
    body: withPod((p) => (p.spec = [])),
    expect: { status: 400, message: /spec is an array: a Pod needs one/ },
  },
  {
    what: 'request.object: an array',
    body: withRequest((r) => (r.object = [{ kind: 'Pod' }])),
    expect: { status: 400, message: /request.object is an array: expected the Pod/ },
  },
  {
    what: 'request.kind with a numeric kind',
    body: withRequest((r) => (r.kind = { group: '', version: 'v1', kind: 7 })),
    expect: { status: 400, message: /request.kind is a object: expected \{group, version, kind\}/ },
  },
  {
    what: 'no request.operation',
    body: withRequest((r) => delete r.operation),
    expect: { status: 400, message: /request.operation is missing: expected CREATE/ },
  },
  {
    what: 'request.name that is an object',
    body: withRequest((r) => (r.name = { first: 'debug' })),
    expect: { status: 400, message: /request.name is a object: expected a string/ },
  },
  {
    what: 'request.subResource that is a number',
    body: withRequest((r) => (r.subResource = 1)),
    expect: { status: 400, message: /request.subResource is a number/ },
  },
  {
    what: 'request: a string',
    body: () => ({ ...good(), request: 'CREATE pod' }),
    expect: { status: 400, message: /request is "CREATE pod"/ },
  },
  {
    what: 'apiVersion missing',
    body: () => ({ ...good(), apiVersion: undefined }),
    expect: { status: 400, message: /apiVersion is missing/ },
  },
  {
    what: 'a uid that is an object',
    body: withRequest((r) => (r.uid = { $gt: '' })),
    expect: { status: 400, message: /request.uid is a object/ },
  },
  {
    what: 'an empty body',
    body: () => '',
    expect: {
      status: 400,
      message: /body is (missing|a object)|expected an admission.k8s.io\/v1 AdmissionReview/,
    },
  },
  {
    what: 'NaN, which JSON does not have',
    body: () => '{"kind": NaN}',
    expect: { status: 400, message: /not valid JSON/ },
  },
  {
    what: 'a UTF-8 byte order mark before the JSON',
    body: () => '\ufeff' + JSON.stringify(good()),
    expect: { status: 200, patched: true },
  },
  {
    what: 'duplicate keys: the last one counts, as for the API server (kind AdmissionReview, then Pod)',
    body: () => {
      const text = JSON.stringify(good());
      return text.replace('"kind":"AdmissionReview"', '"kind":"AdmissionReview","kind":"Pod"');
    },
    expect: { status: 400, message: /kind is "Pod"/ },
  },
  {
    what: 'a duplicate annotation: "true" then "false" opts out',
    body: () =>
      JSON.stringify(good()).replace(
        `"${INJECT_ANNOTATION}":"true"`,
        `"${INJECT_ANNOTATION}":"true","${INJECT_ANNOTATION}":"false"`,
      ),
    expect: { status: 200, patched: false },
  },
  {
    what: 'an array nested a million deep in an unknown field of the pod',
    body: () => JSON.stringify(good()).replace('"spec":{', `"x-deep":${deep(1_000_000)},"spec":{`),
    expect: { status: 200, patched: true },
  },
  {
    what: 'an array nested a million deep inside a container',
    body: () =>
      JSON.stringify(good()).replace('"name":"debug",', `"name":"debug","x-deep":${deep(1_000_000)},`),
    expect: { status: 200, patched: true },
  },
  {
    what: '10,000 containers',
    body: withPod((p) => {
      for (let i = 0; i < 10_000; i++) p.spec.containers.push({ name: `c${i}`, image: 'busybox' });
    }),
    expect: { status: 200, patched: true },
  },
  {
    what: '100,000 annotations',
    body: withPod((p) => {
      for (let i = 0; i < 100_000; i++) p.metadata.annotations[`a${i}`] = 'v';
    }),
    expect: { status: 200, patched: true },
  },
  {
    what: 'unicode, NUL, lone surrogates and right-to-left marks in names, namespace and annotations',
    body: () => {
      const r = good();
      r.request.namespace = 'ñämëspäcé\u202e';
      r.request.name = 'pöd\u0000';
      r.request.object.metadata.name = '\ud800💥';
      r.request.object.metadata.annotations['ключ/😀'] = '\u0000\u2028\u2029';
      r.request.object.spec.containers[0].name = 'äpp';
      return r;
    },
    expect: { status: 200, patched: true },
  },
  {
    what: 'a container name that is a number',
    body: withPod((p) => (p.spec.containers[0].name = 42)),
    expect: { status: 200, patched: true },
  },
  {
    what: 'a one-megabyte uid (echoed back, as the API server needs)',
    body: withRequest((r) => (r.uid = 'u'.repeat(1024 * 1024))),
    expect: { status: 200, patched: true },
  },
  {
    what: 'Content-Type application/json-patch+json',
    body: good,
    headers: { 'content-type': 'application/json-patch+json' },
    expect: { status: 415, message: /send application\/json/ },
  },
  {
    what: 'no Content-Type at all',
    body: good,
    headers: { 'content-type': '' },
    expect: { status: 415, message: /Content-Type is none/ },
  },
  {
    what: 'a charset the JSON parser does not read (ISO-8859-1)',
    body: good,
    headers: { 'content-type': 'application/json; charset=iso-8859-1' },
    expect: { status: 415, message: /unsupported charset "ISO-8859-1"/ },
  },
  {
    what: 'a body declared UTF-16 but sent as UTF-8',
    body: good,
    headers: { 'content-type': 'application/json; charset=utf-16' },
    expect: { status: 400, message: /not valid JSON/ },
  },
  {
    what: 'an unknown Content-Encoding',
    body: good,
    headers: { 'content-encoding': 'compress' },
    expect: { status: 415, message: /unsupported content encoding "compress"/ },
  },
  {
    what: 'a gzip bomb: 64 KiB on the wire, 64 MiB inflated',
    body: () => zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20), { level: 9 }),
    headers: { 'content-encoding': 'gzip' },
    expect: { status: 413, message: /byte limit/ },
  },
  {
    what: 'Content-Type in capitals',
    body: good,
    headers: { 'content-type': 'APPLICATION/JSON' },
    expect: { status: 200, patched: true },
  },
];

describe('webhook: hostile AdmissionReviews (regression)', function () {
  this.timeout(120_000);
  let wh: TestWebhook;
  before(async () => (wh = await startWebhook()));
  after(async () => wh.close());

  for (const c of CASES_HOSTILE) {
    it(`${c.what}: ${c.expect.status}${c.expect.status === 200 ? (c.expect.patched ? ', patched' : ', not patched') : ''}`, async () => {
      const raw = c.body();
      const errorsBefore = wh.logs.lines.filter((l) => l.level === 'error').length;
      const r = await wh.request({
        method: 'POST',
        path: '/mutate',
        headers: { 'content-type': 'application/json', ...c.headers },
        body: typeof raw === 'string' || Buffer.isBuffer(raw) ? raw : JSON.stringify(raw),
      });
      assert.equal(r.status, c.expect.status, r.body.slice(0, 300));
      const json = JSON.parse(r.body) as Json;
      if (c.expect.status === 200) {
        const want = c.expect;
        assert.equal(json.kind, 'AdmissionReview');
        assert.equal(json.response.allowed, true);
        assert.equal(
          json.response.patch !== undefined,
          want.patched,
          JSON.stringify(json.response).slice(0, 300),
        );
        if (want.warning) assert.match(json.response.warnings?.[0] ?? '', want.warning);
        if (typeof raw === 'object' && raw !== null && !Buffer.isBuffer(raw)) {
          assert.equal(json.response.uid, (raw as Json).request.uid, 'the uid is echoed');
        }
      } else {
        assert.equal(json.kind, 'Status');
        assert.equal(json.code, c.expect.status);
        assert.match(json.message, c.expect.message);
      }
      assert.equal(
        wh.logs.lines.filter((l) => l.level === 'error').length,
        errorsBefore,
        'hostile input is not an internal error',
      );
      assert.equal((await wh.post(good())).status, 200, 'still serving');
    });
  }

  it('prototype-pollution keys (__proto__, constructor.prototype) everywhere change nothing outside the review', async () => {
    const poison = { polluted: 'yes', [INJECT_ANNOTATION]: 'true', containers: [{ name: 'evil' }] };
    const text = JSON.stringify(good())
      .replace('{"kind":"AdmissionReview"', `{"__proto__":${JSON.stringify(poison)},"kind":"AdmissionReview"`)
      .replace(
        '"uid":',
        `"__proto__":${JSON.stringify(poison)},"constructor":{"prototype":${JSON.stringify(poison)}},"uid":`,
      )
      .replace('"metadata":{', `"metadata":{"__proto__":${JSON.stringify(poison)},`)
      .replace('"annotations":{', `"annotations":{"__proto__":"x",`)
      .replace('"spec":{', `"spec":{"__proto__":${JSON.stringify(poison)},`);
    const r = await wh.request({
      method: 'POST',
      path: '/mutate',
      headers: { 'content-type': 'application/json' },
      body: text,
    });
    assert.equal(r.status, 200, r.body.slice(0, 300));
    const json = JSON.parse(r.body) as Json;
    assert.equal(json.response.allowed, true);
    assert.ok(json.response.patch, 'the pod is still injected');
    const patch = JSON.parse(Buffer.from(json.response.patch, 'base64').toString()) as Json[];
    assert.ok(
      patch.every((op) => !String(op.path).includes('__proto__') && !String(op.path).includes('constructor')),
      JSON.stringify(patch.map((op) => op.path)),
    );
    const probe: Json = {};
    assert.equal(probe.polluted, undefined, 'Object.prototype was polluted');
    assert.equal(probe.containers, undefined);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
  });
});
