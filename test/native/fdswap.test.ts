import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { swapFds } from '../../sidecar/kernel/fdswap';
import { attachMount, detachMount } from '../../sidecar/kernel/mount';
import { requireRootAndFuse } from '../support/root';
import {
  bindfs,
  buildFixture,
  fdinfo,
  inNamespace,
  mapsOn,
  mountIdAt,
  ourMountsUnder,
  startTarget,
  Target,
  tempDir,
  unmountAllUnder,
} from './support';

interface Ready {
  pid: number;
  fds: Record<'log' | 'data' | 'idle' | 'dir' | 'path' | 'gone' | 'socket' | 'pipe' | 'many', number>;
}

function ready(t: Target): Ready {
  return JSON.parse(t.lines.find((l) => l.startsWith('{"ready"'))!) as Ready;
}

/** Every record 0..n-1 exactly once and in order. */
function checkLog(text: string, written: number): void {
  const lines = text.split('\n').slice(0, -1);
  assert.equal(lines.length, written, 'records lost or duplicated');
  lines.forEach((l, i) => {
    if (Number(l) !== i) assert.fail(`record ${i} is "${l}": out of order or duplicated`);
  });
}

describe('native: fdswap (iochaos-fdswap)', function () {
  this.timeout(120000);
  let dir: string;
  let fixture: string;
  const targets: Target[] = [];
  const held: number[] = [];
  const vol = () => path.join(dir, 'vol');

  before(() => {
    requireRootAndFuse();
    dir = tempDir('fdswap');
    fs.mkdirSync(vol());
    fixture = buildFixture('swap-target', dir);
  });

  afterEach(() => {
    for (const t of targets.splice(0)) t.kill();
    for (const fd of held.splice(0)) fs.closeSync(fd);
    unmountAllUnder(dir);
  });

  after(() => {
    assert.deepEqual(ourMountsUnder(dir), [], 'a mount was left behind');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start(args: string[]): Promise<Target> {
    const t = await startTarget(`mount -t tmpfs fdswap-a ${vol()}`, [fixture, vol(), ...args]);
    targets.push(t);
    return t;
  }

  /**
   * Stacks another mount of the same tmpfs on vol inside the target's namespace: the same files
   * (fdswap requires the same inode on both sides) under a new mount id.
   */
  function stackCopy(pid: number): void {
    inNamespace(liveTask(pid), `mount --bind ${vol()} ${vol()}`);
  }

  /** A thread that is not a zombie: /proc/PID/{ns,mountinfo} go away with a zombie leader. */
  function liveTask(pid: number): number {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`).map(Number)) {
      if (!/^State:\s+[ZX]/m.test(fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))) return tid;
    }
    throw new Error(`no live thread in ${pid}`);
  }

  it('moves a multi-threaded process onto a FUSE mount and back, with I/O running', async () => {
    const t = await start(['--writer', '--reader', '--sleeper', '--threads', '3']);
    const { pid, fds } = ready(t);
    const tmpfsMnt = mountIdAt(pid, vol());
    const before = Object.fromEntries(['log', 'data', 'idle', 'dir', 'path'].map((k) => [k, fdinfo(pid, fds[k as 'log'])]));
    // The original stays reachable through a directory fd opened before the stack (as the worker does).
    const orig = fs.openSync(`/proc/${pid}/root${vol()}`, 'r');
    held.push(orig);
    bindfs(`/proc/${pid}/root${vol()}`, path.join(dir, 'stage'));
    const a = await attachMount({ pid, path: vol(), source: path.join(dir, 'stage') });

    const r = await swapFds({ pids: [pid], path: vol(), from: { mntId: tmpfsMnt }, to: { rootOf: pid } });
    const p = r.processes[0];
    assert.equal(p.status, 'swapped', p.error ?? '');
    assert.equal(r.toMntId, a.mntId);
    assert.deepEqual(p.swapped.map((s) => String(s.fd)).sort(), [fds.log, fds.data, fds.idle, fds.dir, fds.path, 'cwd', 'mmap'].map(String).sort());
    assert.ok(p.swapped.every((s) => s.via === 'path' && s.ino! > 0));
    assert.ok(p.threads >= 6);
    const reasons = Object.fromEntries(p.skipped.map((s) => [String(s.fd), s.reason]));
    // Deleted: no name leads to it on the new mount and no ChaosFS worker holds it. It stays where it is.
    assert.match(reasons[fds.gone], /renamed or deleted, and no backing fd holds it/);
    assert.equal(p.failedFds, 1);
    assert.equal(reasons[fds.socket], 'socket');
    assert.equal(reasons[fds.pipe], 'pipe');
    assert.equal(mapsOn(pid, a.mntId).length, 1, 'the mapping did not move to the FUSE mount');
    for (const k of ['log', 'data', 'idle', 'dir', 'path'] as const) {
      const now = fdinfo(pid, fds[k]);
      assert.equal(now.mntId, a.mntId, `${k} is not on the FUSE mount`);
      assert.equal(now.flags, before[k].flags, `${k} flags changed`);
    }
    assert.equal(fdinfo(pid, fds.idle).pos, 12345);
    assert.equal(fs.readlinkSync(`/proc/${pid}/cwd`), path.join(vol(), 'sub'));
    // The main thread was blocked in read() on its stdin pipe the whole time: it must carry on.
    t.send('after-swap');
    await t.waitLine((l) => l === '{"got":"after-swap"}', 'the echo after the swap');

    const back = await swapFds({ pids: [pid], path: vol(), from: { rootOf: pid }, to: { dir: `/proc/${process.pid}/fd/${orig}` } });
    assert.equal(back.processes[0].status, 'swapped', back.processes[0].error ?? '');
    assert.equal(back.toMntId, tmpfsMnt);
    for (const k of ['log', 'data', 'idle', 'dir', 'path'] as const) {
      const now = fdinfo(pid, fds[k]);
      assert.equal(now.mntId, tmpfsMnt, `${k} is not back on the original mount`);
      assert.equal(now.flags, before[k].flags);
    }
    assert.equal(fdinfo(pid, fds.idle).pos, 12345);
    assert.deepEqual(mapsOn(pid, a.mntId), [], 'a mapping stayed on the FUSE mount');
    assert.equal(mapsOn(pid, tmpfsMnt).length, 1, 'the mapping is not back on the original');
    t.send('after-swap-back');
    await t.waitLine((l) => l === '{"got":"after-swap-back"}', 'the echo after the swap back');
    await detachMount({ pid, path: vol(), mntId: a.mntId });

    const stats = await t.stop();
    assert.equal(stats.mismatches, 0, 'a read came from the wrong offset');
    assert.equal(stats.read_errors, 0);
    assert.ok(stats.records > 0);
    checkLog(fs.readFileSync(path.join(`/proc/${process.pid}/fd/${orig}`, 'log'), 'utf8'), stats.records);
  });

  it('works through a live thread when the main thread is a zombie', async () => {
    const t = await start(['--zombie-main', '--writer']);
    const { pid, fds } = ready(t);
    // Wait until the main thread really is a zombie.
    for (let i = 0; i < 100 && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), /^State:\s+Z/m);
    const from = mountIdAt(liveTask(pid), vol());
    stackCopy(pid);
    const to = mountIdAt(liveTask(pid), vol());
    const r = await swapFds({ pids: [pid], path: vol(), from: { mntId: from }, to: { rootOf: pid } });
    assert.equal(r.processes[0].status, 'swapped', r.processes[0].error ?? '');
    const live = fs.readdirSync(`/proc/${pid}/task`).map(Number).find((x) => x !== pid)!;
    const info = fs.readFileSync(`/proc/${pid}/task/${live}/fdinfo/${fds.data}`, 'utf8');
    assert.match(info, new RegExp(`^mnt_id:\\s+${to}$`, 'm'));
    t.send('ping');
    await t.waitLine((l) => l === '{"got":"ping"}', 'the echo');
    const stats = await t.stop();
    assert.equal(stats.read_errors, 0);
  });

  it('reports, never hangs or kills, targets that exit during the swap', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const t = await start(['--files', '3000', '--threads', '2', '--exit-after-ms', String(150 + i * 7)]);
      const { pid } = ready(t);
      const from = mountIdAt(pid, vol());
      try {
        stackCopy(pid);
      } catch {
        // It may already be gone: the swap must say so.
      }
      await new Promise((r) => setTimeout(r, i * 15));
      const r: unknown = await swapFds({ pids: [pid], path: vol(), from: { mntId: from }, to: { dir: `/proc/${pid}/root${vol()}` } }).catch((e: unknown) => e);
      if (r instanceof Error) {
        // Only a target that vanished before the helper could open its root may be refused.
        assert.match(r.message, /No such file|no process|ENOENT/);
        seen.add('gone before');
      } else {
        const p = (r as Awaited<ReturnType<typeof swapFds>>).processes[0];
        assert.ok(['swapped', 'exited', 'nothing to swap'].includes(p.status), `${p.status}: ${p.error}`);
        // Its exit is no failure of the swap (a failure fails the injection); the deleted file it holds is.
        const exitFailures = p.skipped.filter((s) => s.failed && /the process failed/.test(s.reason));
        assert.deepEqual(exitFailures, [], `${p.status}: fds called failed because the process exited`);
        seen.add(p.status);
      }
      await t.exit();
      assert.equal(t.child.exitCode, 0, 'the target was killed instead of exiting by itself');
    }
    assert.ok(seen.size > 0);
  });

  it('swaps 10,000 open fds, offsets kept', async () => {
    const t = await start(['--files', '10000', '--threads', '2']);
    const { pid, fds } = ready(t);
    const from = mountIdAt(pid, vol());
    stackCopy(pid);
    const to = mountIdAt(pid, vol());
    const sample = fs
      .readdirSync(`/proc/${pid}/fd`)
      .map(Number)
      .filter((fd) => fd >= fds.many)
      .filter((_, i) => i % 997 === 0);
    const posBefore = sample.map((fd) => fdinfo(pid, fd).pos);
    assert.ok(new Set(posBefore).size > 5, 'the fixture should give its fds different offsets');
    const r = await swapFds({ pids: [pid], path: vol(), from: { mntId: from }, to: { rootOf: pid } });
    const p = r.processes[0];
    assert.equal(p.status, 'swapped', p.error ?? '');
    assert.ok(p.swapped.length >= 10000, `swapped only ${p.swapped.length}`);
    sample.forEach((fd, i) => {
      const info = fdinfo(pid, fd);
      assert.equal(info.mntId, to);
      assert.equal(info.pos, posBefore[i]);
    });
    const left = fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try {
        return fdinfo(pid, Number(fd)).mntId === from;
      } catch {
        return false;
      }
    });
    // Only the deleted-but-open file stays on the old mount.
    assert.deepEqual(left, [String(fds.gone)]);
    t.send('still-here');
    await t.waitLine((l) => l === '{"got":"still-here"}', 'the echo');
    assert.equal((await t.stop()).read_errors, 0);
  });

  it('refuses the same mount on both sides and a bad PATH', async () => {
    const t = await start([]);
    const { pid } = ready(t);
    const m = mountIdAt(pid, vol());
    await assert.rejects(swapFds({ pids: [pid], path: vol(), from: { mntId: m }, to: { rootOf: pid } }), /same mount/);
    await assert.rejects(swapFds({ pids: [pid], path: '/', from: { mntId: m }, to: { rootOf: pid } }), /PATH is \//);
  });
});
