/**
 * Whatever arrives on the daemon's control socket — garbage, half a JSON, a huge line, unknown fields,
 * a PID that does not exist, a path outside the target, random mutations — gets a clear error, and the
 * daemon stays up and keeps working.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { sendRaw } from '../../sidecar/control/client';
import { requireRootAndFuse } from '../support/root';
import { testDaemon, type TestDaemon } from '../support/daemon';
import { seededRandom } from '../../sidecar/faults/random';

describe('daemon control socket input', () => {
  let d: TestDaemon;
  const ask = async (text: string) =>
    JSON.parse(await sendRaw(d.socket, text)) as { ok: boolean; error?: { code: string; message: string } };

  before(async () => {
    requireRootAndFuse();
    d = testDaemon();
    await d.start();
  });
  after(async () => d.cleanup());

  it('refuses malformed requests with a message naming what was wrong', async () => {
    const cases: [string, RegExp][] = [
      ['garbage', /not valid JSON/],
      ['{"op":"inject","target":', /not valid JSON/],
      ['{"op":"explode"}', /op: unknown operation/],
      ['{"op":"health","colour":"red"}', /unknown field\(s\): colour/],
      ['{"version":2,"op":"health"}', /protocol version 2 is not spoken here/],
      [
        '{"op":"inject","target":{"pid":999999},"volumePath":"/data","rules":[]}',
        /process 999999 does not exist/,
      ],
      [
        `{"op":"inject","target":{"pid":${process.pid}},"volumePath":"relative","rules":[]}`,
        /volumePath: must be an absolute path/,
      ],
      [
        `{"op":"inject","target":{"pid":${process.pid}},"volumePath":"/a/../etc","rules":[]}`,
        /must not contain "\.\."/,
      ],
      [
        `{"op":"inject","target":{"pid":${process.pid}},"volumePath":"/nonexistent-dir","rules":[]}`,
        /does not exist in the target/,
      ],
      [
        `{"op":"inject","target":{"pid":${process.pid}},"volumePath":"/","rules":[]}`,
        /refusing to inject the root directory/,
      ],
      [
        `{"op":"inject","target":{"pid":${process.pid}},"volumePath":"/tmp","rules":[{"action":"nope"}]}`,
        /unknown action/,
      ],
      ['{"op":"recover","target":{"pid":1}}', /is not injected/],
      ['[]', /request/],
      ['null', /request/],
    ];
    for (const [text, expected] of cases) {
      const reply = await ask(text);
      assert.equal(reply.ok, false, text);
      assert.match(reply.error!.message, expected, text);
    }
  });

  it('refuses NaN, negative, fractional and huge numbers, unknown fields, NUL, "." and "..", any other version, 9,000 rules', async () => {
    const pid = process.pid;
    const inject = (rest: string) =>
      `{"op":"inject","target":{"pid":${pid}},"volumePath":"/tmp","allInNamespace":true,"dryRun":true,${rest}}`;
    const rule = (fields: string) => inject(`"rules":[{${fields}}]`);
    const cases: [string, RegExp][] = [
      ['{"op":"inject","target":{"pid":NaN},"volumePath":"/tmp","rules":[]}', /not valid JSON/],
      ['{"op":"inject","target":{"pid":-1},"volumePath":"/tmp","rules":[]}', /target.pid: Too small/],
      ['{"op":"inject","target":{"pid":0},"volumePath":"/tmp","rules":[]}', /target.pid: Too small/],
      [
        '{"op":"inject","target":{"pid":99999999999999999999},"volumePath":"/tmp","rules":[]}',
        /target.pid: Too big/,
      ],
      [
        '{"op":"inject","target":{"pid":1.5},"volumePath":"/tmp","rules":[]}',
        /^target: must be \{"pid": N\} with N a process id \(a whole number > 0\)/,
      ],
      ['{"op":"inject","target":{"pid":1e400},"volumePath":"/tmp","rules":[]}', /^target: /],
      ['{"op":"inject","target":{"pid":"1"},"volumePath":"/tmp","rules":[]}', /^target: /],
      [
        inject(`"rules":[${Array(9000).fill('{"action":"fault","errno":"EIO"}').join(',')}]`),
        /^rules: at most 256 rules on a volume \(this would make 9000\)/,
      ],
      [rule('"action":"latency","delay":"NaNms"'), /rules\[0\].delay: "NaNms" is not a duration/],
      [rule('"action":"latency","delay":"-5ms"'), /rules\[0\].delay: "-5ms" is not a duration/],
      [
        rule('"action":"latency","delay":"99999999999999999999h"'),
        /rules\[0\].delay: .* is too long: at most 1h/,
      ],
      [inject('"duration":"-1s","rules":[]'), /duration: "-1s" is not a duration/],
      [inject('"duration":"1e400h","rules":[]'), /duration: /],
      [rule('"action":"fault","errno":"EIO","percent":-1'), /rules\[0\].percent: Too small/],
      [rule('"action":"fault","errno":"EIO","percent":1e400'), /rules\[0\].percent: .*Infinity/],
      [rule('"action":"fault","errno":"EIO","percent":101'), /rules\[0\].percent: Too big/],
      [rule('"action":"latency","delay":"1ms","evil":true'), /rules\[0\]: unknown field\(s\): evil/],
      [inject('"rules":[],"evil":1'), /request: unknown field\(s\): evil/],
      [
        '{"op":"inject","target":{"pid":1,"evil":1},"volumePath":"/tmp","rules":[]}',
        /target: unknown field\(s\): evil/,
      ],
      [
        `{"op":"inject","target":{"pid":${pid}},"volumePath":"/tmp/\\u0000x","rules":[]}`,
        /volumePath: must not contain NUL/,
      ],
      [
        `{"op":"inject","target":{"pid":${pid}},"volumePath":"/tmp/..","rules":[]}`,
        /must not contain "\.\." or "\."/,
      ],
      [
        `{"op":"inject","target":{"pid":${pid}},"volumePath":"/tmp/./x","rules":[]}`,
        /must not contain "\.\." or "\."/,
      ],
      [
        `{"op":"inject","target":{"pid":${pid}},"volumePath":"../tmp","rules":[]}`,
        /must be an absolute path/,
      ],
      ['{"version":0,"op":"health"}', /protocol version 0 is not spoken here/],
      ['{"version":-1,"op":"health"}', /protocol version -1 is not spoken here/],
      ['{"version":"1","op":"health"}', /protocol version "1" is not spoken here/],
      ['{"version":1e400,"op":"health"}', /protocol version Infinity is not spoken here/],
      ['{"version":null,"op":"health"}', /protocol version null is not spoken here/],
    ];
    for (const [text, expected] of cases) {
      const reply = await ask(text);
      assert.equal(reply.ok, false, text);
      assert.match(reply.error!.message, expected, text);
    }
    assert.equal((await ask('{"op":"health"}')).ok, true);
  });

  it('refuses a huge line and a silent client without harm', async () => {
    const huge = await sendRaw(d.socket, '{"op":"health","x":"' + 'a'.repeat(2 * 1024 * 1024));
    assert.match(huge, /larger than/);
    // A client that connects and sends nothing is cut off by the server's timeout; others are served meanwhile.
    const idle = net.connect(d.socket);
    await new Promise((r) => idle.on('connect', r));
    assert.equal((await ask('{"op":"health"}')).ok, true);
    idle.destroy();
  });

  it('survives a small fuzz of mutated requests, and stays healthy', async () => {
    const random = seededRandom(42);
    const seeds = [
      '{"op":"health"}',
      '{"op":"status"}',
      '{"op":"rules.list"}',
      `{"op":"inject","target":{"pid":${process.pid}},"volumePath":"/nonexistent","rules":[{"action":"latency","delay":"1ms"}]}`,
      '{"op":"recover","target":{"containerId":"abc"},"volumePath":"/data"}',
    ];
    const alphabet = '{}[]":,0123456789abcdefghijklmnopqrstuvwxyz\\/\n\u0000\u00ff-.eE+ ';
    for (let i = 0; i < 300; i++) {
      const chars = [...seeds[Math.floor(random() * seeds.length)]];
      const edits = 1 + Math.floor(random() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * chars.length);
        const kind = random();
        if (kind < 0.33) chars.splice(at, 1);
        else if (kind < 0.66) chars.splice(at, 0, alphabet[Math.floor(random() * alphabet.length)]);
        else chars[at] = alphabet[Math.floor(random() * alphabet.length)];
      }
      const reply = await sendRaw(d.socket, chars.join('').replace(/\n/g, ' '));
      assert.doesNotThrow(() => JSON.parse(reply), `reply to fuzz case ${i} is JSON: ${reply}`);
    }
    assert.equal((await ask('{"op":"health"}')).ok, true);
    assert.equal(d.process!.exitCode, null, 'the daemon is still running');
  });
});
