/**
 * The demo's app: writes sequenced, checksummed records to DIR/records.log and reads random ones back,
 * printing one JSON line a second: ops, latency percentiles and error rate. A failed write is retried
 * with the same sequence number, so the file must end up holding records 0..N-1 exactly, in order.
 *
 * Usage: node sample-app.js DIR
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const RECORD_SIZE = 64;

export function record(seq: number): Buffer {
  const body = `seq=${String(seq).padStart(10, '0')} `;
  const sum = crypto
    .createHash('sha256')
    .update(body)
    .digest('hex')
    .slice(0, 64 - body.length - 1);
  return Buffer.from(`${body}${sum}\n`);
}

function main(dir: string) {
  const file = path.join(dir, 'records.log');
  const out = fs.openSync(file, 'a');
  const inp = fs.openSync(file, 'r');
  let seq = fs.fstatSync(out).size / RECORD_SIZE;
  let latencies: number[] = [];
  let errors = 0;
  let ops = 0;

  const timed = (fn: () => void) => {
    const start = process.hrtime.bigint();
    ops++;
    try {
      fn();
      return true;
    } catch {
      errors++;
      return false;
    } finally {
      latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  };

  const tick = () => {
    if (timed(() => fs.writeSync(out, record(seq)))) seq++;
    if (seq > 0) {
      const n = Math.floor(Math.random() * seq);
      const buf = Buffer.alloc(RECORD_SIZE);
      timed(() => {
        fs.readSync(inp, buf, 0, RECORD_SIZE, n * RECORD_SIZE);
        if (!buf.equals(record(n))) throw new Error('bad record');
      });
    }
  };
  const loop = setInterval(tick, 5);
  const report = setInterval(() => {
    const sorted = [...latencies].sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
    process.stdout.write(
      JSON.stringify({
        ops,
        errors,
        p50: q(0.5),
        p99: q(0.99),
        mean: sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1),
        written: seq,
      }) + '\n',
    );
    latencies = [];
    errors = 0;
    ops = 0;
  }, 1000);
  process.on('SIGTERM', () => {
    clearInterval(loop);
    clearInterval(report);
    fs.closeSync(out);
    fs.closeSync(inp);
    process.exit(0);
  });
}

if (require.main === module) main(process.argv[2]);
