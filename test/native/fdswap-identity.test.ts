/**
 * fdswap moves files by identity (inode), never by a name the app controls: renamed and unlinked
 * files, a dead FUSE server, mappings, a target of another uid, and an app that races
 * renameat2(RENAME_EXCHANGE) to be handed a root-only file.
 */
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { swapFds, type ProcessSwapReport } from '../../sidecar/kernel/fdswap';
import { attachMount, detachMount } from '../../sidecar/kernel/mount';
import { ROOT } from '../../sidecar/paths';
import { requireRootAndFuse } from '../support/root';
import {
  buildFixture,
  fdinfo,
  identityOf,
  inNamespace,
  inoOf,
  mapsOn,
  mountIdAt,
  ourMountsUnder,
  startTarget,
  Target,
  tempDir,
  unmountAllUnder,
} from './support';

const CHAOSFS_CLI = path.join(ROOT, 'dist', 'sidecar', 'cli.js');

/** The identity-target fixture: one command a line, one JSON answer per command. */
class App {
  private seq = 0;
  constructor(readonly t: Target) {}

  get pid(): number {
    return this.t.pid;
  }

  async cmd(line: string): Promise<Record<string, unknown>> {
    const seq = ++this.seq;
    this.t.send(`${seq} ${line}`);
    const l = await this.t.waitLine((x) => x.startsWith(`{"seq":${seq},`), line);
    return JSON.parse(l) as Record<string, unknown>;
  }

  async ok(line: string): Promise<Record<string, unknown>> {
    const r = await this.cmd(line);
    if (r.error) assert.fail(`${line}: ${String(r.error)}`);
    return r;
  }
}

function only(r: Awaited<ReturnType<typeof swapFds>>): ProcessSwapReport {
  return r.processes[0];
}

function swappedFd(p: ProcessSwapReport, fd: number | 'cwd') {
  return p.swapped.find((s) => s.fd === fd);
}

describe('native: fdswap moves files by identity', function () {
  this.timeout(120000);
  let dir: string;
  let fixture: string;
  const targets: Target[] = [];
  const workers: ChildProcess[] = [];
  const held: number[] = [];
  const vol = () => path.join(dir, 'vol');
  const stage = () => path.join(dir, 'stage');

  before(() => {
    requireRootAndFuse();
    dir = tempDir('fdswap-id');
    fs.chmodSync(dir, 0o755); // the uid-1000 target must reach vol
    fs.mkdirSync(vol());
    fixture = buildFixture('identity-target', dir);
  });

  afterEach(async () => {
    for (const t of targets.splice(0)) t.kill();
    for (const w of workers.splice(0)) {
      if (w.exitCode === null && w.signalCode === null) {
        w.kill('SIGKILL');
        await new Promise((r) => w.once('exit', r));
      }
    }
    for (const fd of held.splice(0)) fs.closeSync(fd);
    unmountAllUnder(dir);
  });

  after(() => {
    assert.deepEqual(ourMountsUnder(dir), [], 'a mount was left behind');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The app in its own mount namespace with a tmpfs at vol; `user` runs it as another uid. */
  async function startApp(setup = '', user?: number): Promise<App> {
    const argv = user === undefined ? [fixture, vol()] : ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--clear-groups', fixture, vol()];
    const t = await startTarget(`mount -t tmpfs fdswap-id ${vol()}${setup ? ` && ${setup}` : ''}`, argv);
    targets.push(t);
    return new App(t);
  }

  /** The original volume as the app sees it, held open (as the daemon's worker does) before anything covers it. */
  function holdOriginal(pid: number): string {
    const fd = fs.openSync(`/proc/${pid}/root${vol()}`, 'r');
    held.push(fd);
    return `/proc/${process.pid}/fd/${fd}`;
  }

  /** A real ChaosFS worker (`chaosfs mount`) over the original, stacked on vol in the app's namespace. */
  async function injectChaosFs(pid: number, orig: string): Promise<{ worker: ChildProcess; mntId: number }> {
    fs.mkdirSync(stage(), { recursive: true });
    const worker = spawn(process.execPath, [CHAOSFS_CLI, 'mount', '--source', orig, '--mountpoint', stage()], { stdio: ['ignore', 'ignore', 'pipe'] });
    workers.push(worker);
    let err = '';
    worker.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    for (let i = 0; !fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${stage()} `); i++) {
      if (worker.exitCode !== null || i > 400) throw new Error(`chaosfs did not mount: ${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const a = await attachMount({ pid, path: vol(), source: stage() });
    return { worker, mntId: a.mntId };
  }

  async function detach(pid: number, mntId: number): Promise<void> {
    await detachMount({ pid, path: vol(), mntId });
  }

  it('swaps back a file renamed and a file unlinked while injected: same inodes, data intact', async () => {
    const app = await startApp(`mkdir ${vol()}/sub`);
    const renamed = Number((await app.ok('open a.log')).fd);
    const gone = Number((await app.ok('open b.log')).fd);
    await app.ok('chdir sub');
    const ino = { renamed: inoOf(app.pid, renamed), gone: inoOf(app.pid, gone), cwd: identityOf(`/proc/${app.pid}/cwd`).ino };
    const tmpfs = mountIdAt(app.pid, vol());
    const orig = holdOriginal(app.pid);
    const { worker, mntId } = await injectChaosFs(app.pid, orig);

    const inj = only(await swapFds({ pids: [app.pid], path: vol(), from: { mntId: tmpfs }, to: { rootOf: app.pid } }));
    assert.equal(inj.status, 'swapped', inj.error ?? '');
    for (const fd of [renamed, gone, 'cwd'] as const) {
      assert.equal(swappedFd(inj, fd)?.via, 'path', `fd ${fd} not swapped in by path`);
    }
    assert.equal(fdinfo(app.pid, renamed).mntId, mntId);
    assert.equal(inoOf(app.pid, renamed), ino.renamed, 'ChaosFS shows the backing inode numbers');
    await app.ok(`write ${renamed} one,`);
    await app.ok(`write ${gone} one,`);
    await app.ok('rename a.log c.log');
    await app.ok('unlink b.log');
    await app.ok(`write ${renamed} two,`);
    // (A write to the unlinked file through ChaosFS itself fails today: its operations go by path.)

    // By path alone: the renamed file is found under its new name; the unlinked one has none and
    // must be reported as a failure, not skipped silently.
    const byPath = only(await swapFds({ pids: [app.pid], path: vol(), from: { mntId }, to: { dir: orig } }));
    assert.equal(byPath.status, 'swapped', byPath.error ?? '');
    assert.equal(swappedFd(byPath, renamed)?.via, 'path');
    const left = byPath.skipped.find((s) => s.fd === gone);
    assert.ok(left?.failed, `the unlinked file was not reported as a failure: ${JSON.stringify(byPath.skipped)}`);
    assert.match(left.reason, /renamed or deleted, and no backing fd holds it/);
    assert.equal(byPath.failedFds, 1);
    assert.equal(fdinfo(app.pid, gone).mntId, mntId);

    // With the worker's backing fds: the deleted inode itself comes back.
    const back = only(await swapFds({ pids: [app.pid], path: vol(), from: { mntId }, to: { dir: orig }, backingOf: worker.pid! }));
    assert.equal(back.status, 'swapped', back.error ?? '');
    assert.equal(swappedFd(back, gone)?.via, 'backing');
    assert.equal(back.failedFds, 0);
    assert.equal(fdinfo(app.pid, gone).mntId, tmpfs);
    assert.equal(inoOf(app.pid, gone), ino.gone);
    assert.equal(inoOf(app.pid, renamed), ino.renamed);
    assert.deepEqual(identityOf(`/proc/${app.pid}/cwd`), { mntId: tmpfs, ino: ino.cwd });
    await detach(app.pid, mntId); // not lazy: nothing of the app is left on ChaosFS

    await app.ok(`write ${renamed} three`);
    await app.ok(`write ${gone} three`);
    assert.equal(fs.readFileSync(path.join(orig, 'c.log'), 'utf8'), 'one,two,three');
    assert.match(fs.readlinkSync(`/proc/${app.pid}/fd/${gone}`), /\/b\.log \(deleted\)$/);
    assert.equal(fs.readFileSync(`/proc/${app.pid}/fd/${gone}`, 'utf8'), 'one,three');
    assert.equal(fs.existsSync(path.join(orig, 'b.log')), false);
  });

  it('swaps back by path a file whose dentry the kernel unhashed ("NAME (deleted)") while the file is still there', async () => {
    const app = await startApp();
    const fd = Number((await app.ok('open log.txt')).fd);
    const ino = inoOf(app.pid, fd);
    const tmpfs = mountIdAt(app.pid, vol());
    const orig = holdOriginal(app.pid);
    const { mntId } = await injectChaosFs(app.pid, orig);
    const inj = only(await swapFds({ pids: [app.pid], path: vol(), from: { mntId: tmpfs }, to: { rootOf: app.pid } }));
    assert.equal(inj.status, 'swapped', inj.error ?? '');
    await app.ok(`write ${fd} one,`);
    // A failed revalidation (here: the name is gone from the backing for a moment) makes the kernel
    // unhash the dentry of the open file; the name is back on the volume, the app's fd does not know.
    fs.renameSync(path.join(orig, 'log.txt'), path.join(orig, 'away.txt'));
    // The name is cached for up to the entry timeout (1 s); the first stat after it revalidates.
    let error = '';
    for (let i = 0; i < 50 && !/No such file/.test(error); i++) {
      error = String((await app.cmd('stat log.txt')).error);
      if (!/No such file/.test(error)) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(error, /No such file/);
    fs.renameSync(path.join(orig, 'away.txt'), path.join(orig, 'log.txt'));
    assert.match(fs.readlinkSync(`/proc/${app.pid}/fd/${fd}`), /\/log\.txt \(deleted\)$/);

    const back = only(await swapFds({ pids: [app.pid], path: vol(), from: { mntId }, to: { dir: orig } }));
    assert.equal(back.status, 'swapped', back.error ?? '');
    assert.equal(back.failedFds, 0, JSON.stringify(back.skipped));
    assert.equal(swappedFd(back, fd)?.via, 'path');
    assert.equal(fdinfo(app.pid, fd).mntId, tmpfs);
    assert.equal(inoOf(app.pid, fd), ino);
    await detach(app.pid, mntId);
    await app.ok(`write ${fd} two`);
    assert.equal(fs.readFileSync(path.join(orig, 'log.txt'), 'utf8'), 'one,two');
  });

  it('swaps back from a dead FUSE server (kill -9) by inode, from the original directory', async () => {
    const app = await startApp(`mkdir ${vol()}/sub`);
    const fd = Number((await app.ok('open data.log')).fd);
    await app.ok('chdir sub');
    const ino = inoOf(app.pid, fd);
    const tmpfs = mountIdAt(app.pid, vol());
    const orig = holdOriginal(app.pid);
    const { worker, mntId } = await injectChaosFs(app.pid, orig);
    const inj = only(await swapFds({ pids: [app.pid], path: vol(), from: { mntId: tmpfs }, to: { rootOf: app.pid } }));
    assert.equal(inj.status, 'swapped', inj.error ?? '');
    await app.ok(`write ${fd} before-crash,`);
    worker.kill('SIGKILL');
    await new Promise((r) => worker.once('exit', r));
    assert.match(String((await app.cmd(`write ${fd} lost`)).error), /not connected/);

    const back = only(await swapFds({ pids: [app.pid], path: vol(), from: { mntId }, to: { dir: orig }, backingOf: undefined }));
    assert.equal(back.status, 'swapped', back.error ?? '');
    assert.equal(back.failedFds, 0, JSON.stringify(back.skipped));
    assert.equal(swappedFd(back, fd)?.via, 'path');
    assert.equal(fdinfo(app.pid, fd).mntId, tmpfs);
    assert.equal(inoOf(app.pid, fd), ino);
    assert.equal(identityOf(`/proc/${app.pid}/cwd`).mntId, tmpfs);
    await app.ok(`write ${fd} after`);
    assert.equal(fs.readFileSync(path.join(orig, 'data.log'), 'utf8'), 'before-crash,after');
    await detachMount({ pid: app.pid, path: vol(), mntId, lazy: true });
  });

  it('moves file mappings onto ChaosFS and back, or leaves a shared one on the original, data intact', async () => {
    const app = await startApp(`head -c 8192 /dev/zero > ${vol()}/shared.bin && head -c 8192 /dev/zero > ${vol()}/ro.bin && head -c 8192 /dev/zero > ${vol()}/cow.bin`);
    const shared = Number((await app.ok('map shared.bin 8192 shared')).map);
    await app.ok('map ro.bin 8192 private ro');
    const cow = Number((await app.ok('map cow.bin 8192 private')).map);
    await app.ok(`mapwrite ${cow} 0 written-in-memory-only`);
    await app.ok(`mapwrite ${shared} 0 before,`);
    const tmpfs = mountIdAt(app.pid, vol());
    const orig = holdOriginal(app.pid);
    const { worker, mntId } = await injectChaosFs(app.pid, orig);

    const inj = only(await swapFds({ pids: [app.pid], path: vol(), from: { mntId: tmpfs }, to: { rootOf: app.pid } }));
    assert.equal(inj.status, 'swapped', inj.error ?? '');
    const maps = (p: ProcessSwapReport) => [...p.swapped, ...p.skipped].filter((s) => s.fd === 'mmap');
    const byName = (p: ProcessSwapReport, name: string) => maps(p).filter((s) => s.path.endsWith(name));
    assert.ok(byName(inj, 'ro.bin').every((s) => 'via' in s), `the read-only private mapping did not move: ${JSON.stringify(maps(inj))}`);
    const cowLeft = byName(inj, 'cow.bin');
    assert.ok(cowLeft.length > 0 && cowLeft.every((s) => 'reason' in s && /copy-on-write/.test(s.reason)), JSON.stringify(cowLeft));
    // MAP_SHARED onto ChaosFS (direct_io) is refused by the kernel today: then it stays on the original.
    const sharedNow = byName(inj, 'shared.bin');
    const sharedMoved = sharedNow.every((s) => 'via' in s);
    if (!sharedMoved) assert.ok(sharedNow.every((s) => 'reason' in s && s.reason === 'left on the original volume: ChaosFS cannot map shared yet'), JSON.stringify(sharedNow));
    assert.ok(mapsOn(app.pid, mntId).length >= 1, 'nothing was mapped from ChaosFS');
    await app.ok(`mapwrite ${shared} 7 during,`);

    const back = only(await swapFds({ pids: [app.pid], path: vol(), from: { mntId }, to: { dir: orig }, backingOf: worker.pid! }));
    assert.equal(back.status, 'swapped', back.error ?? '');
    assert.deepEqual(mapsOn(app.pid, mntId), [], 'a mapping is left on the FUSE mount');
    await detach(app.pid, mntId);
    await app.ok(`mapwrite ${shared} 14 after`);
    assert.equal(fs.readFileSync(path.join(orig, 'shared.bin'), 'utf8').slice(0, 20), 'before,during,after\0');
    assert.equal(fs.readFileSync(path.join(orig, 'cow.bin'), 'utf8').slice(0, 4), '\0\0\0\0', 'a private write reached the file');
  });

  it('never hands an app racing RENAME_EXCHANGE a root-only file, and works for a target of another uid', async () => {
    // The app (uid 1000) owns d/ in the volume; root left a 0600 file in it.
    const app = await startApp(`mkdir ${vol()}/d && chown 1000:1000 ${vol()}/d && echo secret > ${vol()}/d/root-only && chmod 600 ${vol()}/d/root-only`, 1000);
    const fd = Number((await app.ok('open d/mine')).fd);
    const mine = inoOf(app.pid, fd);
    const secret = fs.statSync(`/proc/${app.pid}/root${vol()}/d/root-only`).ino;
    const a = mountIdAt(app.pid, vol());
    const orig = holdOriginal(app.pid);
    inNamespace(app.pid, `mount --bind ${vol()} ${vol()}`);
    const b = mountIdAt(app.pid, vol());
    assert.equal(fs.statSync(path.join(orig, 'd', 'root-only')).ino, secret);
    await app.ok('exchange d/mine d/root-only');
    let moved = 0;
    let refused = 0;
    for (let i = 0; i < 20; i++) {
      const fwd = i % 2 === 0;
      const before = fdinfo(app.pid, fd).mntId;
      const p = only(await swapFds({ pids: [app.pid], path: vol(), from: { mntId: fwd ? a : b }, to: fwd ? { rootOf: app.pid } : { dir: orig } }));
      assert.equal(p.status === 'swapped' || p.status === 'nothing to swap', true, `${p.status}: ${p.error ?? ''}`);
      assert.equal(inoOf(app.pid, fd), mine, `swap ${i} gave the app another file (inode ${inoOf(app.pid, fd)}; root-only is ${secret})`);
      const s = p.skipped.find((x) => x.fd === fd);
      if (fdinfo(app.pid, fd).mntId !== before) moved++;
      else if (s?.failed) {
        refused++;
        assert.match(s.reason, /not the same file on the new mount|Permission denied|No such file/);
      }
    }
    await app.ok('unexchange');
    assert.ok(moved > 0, 'no swap succeeded: the test would pass for a helper that moves nothing');
    assert.equal(moved + refused >= 10, true, `moved ${moved}, refused ${refused}`);
    const now = fs.statSync(path.join(orig, 'd', 'root-only')).ino === secret ? 'root-only' : 'mine';
    assert.equal(fs.readFileSync(path.join(orig, 'd', now), 'utf8'), 'secret\n', 'the root-only file changed');
  });
});
