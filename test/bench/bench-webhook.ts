/**
 * `npm run bench:webhook`: admission latency (p50, p99) and throughput over TLS on loopback, 50
 * concurrent clients, against the real `iochaos-webhook --self-signed` process with JSON logging on
 * (to /dev/null). Two runs:
 *  - at 1,000 requests/s (the goal: p99 under 5 ms on 2 cores), paced evenly, one request per
 *    millisecond spread over 50 keep-alive TLS connections, latency counted from the moment a request
 *    was due (so a stalled server is not hidden by a stalled client). autocannon's own rate limit is
 *    not used here: it sends each connection's quota as a burst at the top of every second, which
 *    measures a 1,000-request burst, not a 1,000 req/s stream.
 *  - as fast as it goes: autocannon, 50 connections, closed loop.
 * Latencies are per-response times in microsecond resolution (autocannon's histogram rounds to ms).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import autocannon from 'autocannon';
import { CASES } from '../webhook/fixtures';

const CLI = path.resolve(__dirname, '../../webhook/cli.js');
const CONNECTIONS = 50;
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 10);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(port: number, ca: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) =>
      https
        .get({ host: '127.0.0.1', port, path: '/readyz', ca, servername: 'localhost' }, (r) => {
          r.resume();
          resolve(r.statusCode === 200);
        })
        .on('error', () => resolve(false)),
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('webhook did not become ready in 20 s');
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the comm field.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** Open-loop load: a request is due every 1000/rate ms whether or not earlier ones have finished. */
async function paced(port: number, ca: string, body: string, seconds: number, rate: number) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: CONNECTIONS, ca, servername: 'localhost' });
  const times: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const total = Math.round(seconds * rate);
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      new Promise<void>((resolve) => {
        const req = https.request(
          {
            host: '127.0.0.1',
            port,
            path: '/mutate',
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json' },
          },
          (res) => {
            res.resume();
            res.on('end', () => {
              times.push(performance.now() - due);
              if (res.statusCode !== 200) non2xx++;
              resolve();
            });
          },
        );
        req.on('error', () => {
          errors++;
          resolve();
        });
        req.end(body);
      }),
    );
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  times.sort((a, b) => a - b);
  return {
    count: times.length,
    reqPerSec: times.length / elapsed,
    p50: pct(times, 50),
    p99: pct(times, 99),
    max: times[times.length - 1] ?? NaN,
    non2xx,
    errors,
  };
}

async function load(port: number, body: string, seconds: number, rate?: number) {
  const times: number[] = [];
  const inst = autocannon({
    url: `https://127.0.0.1:${port}/mutate`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: CONNECTIONS,
    duration: seconds,
    ...(rate ? { overallRate: rate } : {}),
  });
  inst.on('response', (_c, _code, _b, ms) => {
    times.push(ms);
  });
  const result = await new Promise<autocannon.Result>((resolve) => inst.on('done', resolve));
  times.sort((a, b) => a - b);
  return {
    reqPerSec: times.length / (result.duration || seconds),
    p50: pct(times, 50),
    p99: pct(times, 99),
    max: times[times.length - 1] ?? NaN,
    count: times.length,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-webhook-'));
  const caFile = path.join(dir, 'ca.crt');
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      CLI,
      '--self-signed',
      `--port=${port}`,
      '--host=127.0.0.1',
      `--write-ca=${caFile}`,
      '--shutdown-delay=0ms',
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  try {
    for (let i = 0; i < 100 && !fs.existsSync(caFile); i++) await new Promise((r) => setTimeout(r, 100));
    const ca = fs.readFileSync(caFile, 'utf8');
    await waitReady(port, ca);
    const body = JSON.stringify(CASES['deployment-pod']());
    await load(port, body, 2); // warm-up: JIT, TLS sessions
    // Other work on the machine skews every figure: print how busy it was.
    const loadBefore = os.loadavg()[0]!.toFixed(2);
    const cpu0 = cpuSeconds(child.pid!);
    const fixed = await paced(port, ca, body, DURATION_S, 1000);
    const cpuPerReq = ((cpuSeconds(child.pid!) - cpu0) / fixed.count) * 1e6;
    const max = await load(port, body, DURATION_S);
    const f = (n: number) => n.toFixed(2).padStart(7);
    const line = (name: string, r: Awaited<ReturnType<typeof paced>>) =>
      `${name.padEnd(22)} ${r.reqPerSec.toFixed(0).padStart(6)} req/s   p50 ${f(r.p50)} ms   p99 ${f(r.p99)} ms   max ${f(r.max)} ms   non-2xx ${r.non2xx}   errors ${r.errors}`;
    console.log(
      `iochaos-webhook admission latency: TLS on loopback, ${CONNECTIONS} connections, ${DURATION_S} s per run, ${os.cpus().length} CPUs, ${(body.length / 1024).toFixed(1)} KiB review (Deployment pod, injected), load average before ${loadBefore}`,
    );
    console.log(line('paced 1,000 req/s', fixed));
    console.log(line('autocannon, max', max));
    // Independent of what else runs on the machine: the webhook's own CPU per admission.
    console.log(
      `webhook CPU per admission: ${cpuPerReq.toFixed(0)} µs (${((cpuPerReq * 1000) / 1e4).toFixed(0)}% of one core at 1,000 req/s)`,
    );
    const goal = fixed.p99 < 5 && fixed.reqPerSec >= 950 && fixed.non2xx === 0 && fixed.errors === 0;
    console.log(`goal (p99 < 5 ms at 1,000 req/s): ${goal ? 'met' : 'NOT met'}`);
    process.exitCode = goal ? 0 : 1;
  } finally {
    child.kill('SIGTERM');
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
