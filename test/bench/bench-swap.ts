/**
 * bench:swap — how long fdswap keeps a target stopped, by number of open fds under PATH.
 * A multi-threaded target (swap-target, 4 threads) in a private mount namespace; its files are on
 * one tmpfs and swapped back and forth with a bind mount of that tmpfs stacked on PATH (fdswap requires
 * the same inodes on both sides). Prints, per size, the all-threads pause (p50 / max) and the time the
 * one thread that runs our code was held.
 * Needs root. Run: npm run build:native && npx tsc -p . && npm run bench:swap
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { swapFds } from '../../sidecar/kernel/fdswap';
import { buildFixture, inNamespace, mountIdAt, startTarget, tempDir } from '../native/support';

const SIZES = [10, 100, 1000, 10000];
const ROUNDS = Number(process.env.BENCH_SWAP_ROUNDS ?? 10);

function pct(v: number[], p: number): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const ms = (us: number) => `${(us / 1000).toFixed(2)} ms`;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:swap needs root (ptrace, namespaces)');
  const dir = tempDir('bench-swap');
  const vol = path.join(dir, 'vol');
  fs.mkdirSync(vol);
  const fixture = buildFixture('swap-target', dir);
  console.log(
    `fdswap pause by open fds under PATH (${ROUNDS} swaps each, target with 4 threads + main, tmpfs <-> a bind mount of it)`,
  );
  console.log('fds     pause p50   pause max   held p50    held max    batches');
  try {
    for (const n of SIZES) {
      const t = await startTarget(`mount -t tmpfs a ${vol}`, [
        fixture,
        vol,
        '--files',
        String(n),
        '--threads',
        '4',
      ]);
      try {
        const a = mountIdAt(t.pid, vol);
        // The original is reached through a directory fd opened before the stack, as the worker does.
        const orig = fs.openSync(`/proc/${t.pid}/root${vol}`, 'r');
        // Another mount of the same tmpfs on top: the same inodes (fdswap checks them) under a new mount id.
        inNamespace(t.pid, `mount --bind ${vol} ${vol}`);
        const b = mountIdAt(t.pid, vol);
        const pause: number[] = [];
        const held: number[] = [];
        let batches = 0;
        const origDir = `/proc/${process.pid}/fd/${orig}`;
        for (let i = 0; i < ROUNDS; i++) {
          const fwd = i % 2 === 0;
          const r = await swapFds({
            pids: [t.pid],
            path: vol,
            from: { mntId: fwd ? a : b },
            to: fwd ? { rootOf: t.pid } : { dir: origDir },
          });
          const p = r.processes[0];
          if (p.status !== 'swapped') throw new Error(`round ${i}: ${p.status} ${p.error ?? ''}`);
          pause.push(p.pauseMaxUs);
          held.push(p.hijackUs);
          batches = Math.max(batches, p.batches);
        }
        console.log(
          `${String(n).padEnd(8)}${ms(pct(pause, 50)).padEnd(12)}${ms(Math.max(...pause)).padEnd(12)}` +
            `${ms(pct(held, 50)).padEnd(12)}${ms(Math.max(...held)).padEnd(12)}${batches}`,
        );
        fs.closeSync(orig);
      } finally {
        t.kill();
        await t.exit();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
