/**
 * A "container" for real applications: a private mount namespace (unshare -m) with a tmpfs volume,
 * kept alive by an anchor process, where a test starts programs with nsenter as a runtime would. And
 * the checks every application case ends with, read from /proc, not from what the daemon says:
 * every file of every process of the namespace under the volume is on the volume's own mount, no
 * ChaosFS mount is left, the mount table is as before.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { mounts } from '../support/mounts';
import { requireRootAndFuse } from '../support/root';
import { testDaemon, type TestDaemon } from '../support/daemon';

export interface Namespace {
  /** The anchor: a process of the namespace that does nothing else (the tests name others too). */
  pid: number;
  /** The volume's path, the same string in the namespace and on the host (where it is empty). */
  volume: string;
  /** A host directory the namespace sees too (not on the volume): logs, sockets. */
  outside: string;
  /** Runs a shell command in the namespace and waits for it. */
  run(cmd: string, opts?: { user?: string; timeoutMs?: number }): SpawnSyncReturns<string>;
  /** Starts a shell command in the namespace; its pid is the shell's (use `exec` to make it the program's). */
  start(cmd: string, opts?: { user?: string }): ChildProcess;
  /** The namespace's mount table, ids aside, without the mounts other tests make and remove meanwhile. */
  mountTable(): string[];
  /** Every live process of the namespace. */
  pids(): number[];
  kill(): Promise<void>;
}

function nsOf(pid: number): string | undefined {
  try {
    const st = fs.statSync(`/proc/${pid}/ns/mnt`);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** `mode` is the volume root's mode; `owner` its owner (a user name), for apps that do not run as root. */
export async function startNamespace(opts: { owner?: string; sizeMb?: number } = {}): Promise<Namespace> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-app-'));
  fs.chmodSync(base, 0o755);
  const volume = path.join(base, 'vol');
  const outside = path.join(base, 'out');
  fs.mkdirSync(volume);
  fs.mkdirSync(outside, { mode: 0o777 });
  fs.chmodSync(outside, 0o777);
  const chown = opts.owner ? ` && chown ${opts.owner}: '${volume}'` : '';
  const anchor = spawn(
    'unshare',
    [
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      `mount -t tmpfs -o size=${opts.sizeMb ?? 256}m app-volume '${volume}'${chown} && echo ready && exec sleep infinity`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    anchor.stdout!.once('data', () => resolve());
    anchor.once('exit', (c) => reject(new Error(`the namespace's anchor exited (${c})`)));
  });
  const pid = anchor.pid!;
  const ns = nsOf(pid)!;
  const started: ChildProcess[] = [];
  const argv = (cmd: string, user?: string) => [
    '-t',
    String(pid),
    '-m',
    '--',
    ...(user ? ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--init-groups'] : []),
    'sh',
    '-c',
    cmd,
  ];
  const self: Namespace = {
    pid,
    volume,
    outside,
    run: (cmd, o = {}) =>
      spawnSync('nsenter', argv(cmd, o.user), { encoding: 'utf8', timeout: o.timeoutMs ?? 120_000 }),
    start(cmd, o = {}) {
      const child = spawn('nsenter', argv(cmd, o.user), { stdio: ['ignore', 'pipe', 'pipe'] });
      started.push(child);
      return child;
    },
    mountTable: () =>
      mounts(pid)
        .map((m) => m.withoutIds)
        .filter((l) => {
          const f = l.split(' ');
          const fstype = f[f.indexOf('-') + 1] ?? '';
          // Copied from the host when the namespace was made; other tests' mounts come and go.
          return !((fstype.startsWith('fuse') || fstype === 'overlay') && !f[2].startsWith(base));
        }),
    pids: () =>
      fs
        .readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .map(Number)
        .filter((p) => nsOf(p) === ns),
    async kill() {
      for (const p of self.pids()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // Gone.
        }
      }
      for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
      for (let i = 0; i < 100 && self.pids().length > 0; i++) await sleep(50);
      fs.rmSync(base, { recursive: true, force: true });
    },
  };
  return self;
}

function mountIdOf(fdinfo: string): number | undefined {
  try {
    const m = /^mnt_id:\s*(\d+)/m.exec(fs.readFileSync(fdinfo, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Files the namespace's processes hold under the volume (fds and cwds) that are not on the volume's
 * own mount, as "pid fd path (mount N)"; empty when recovery put everything back.
 */
export function filesOffTheVolume(ns: Namespace): string[] {
  const volumeMount = mounts(ns.pid)
    .filter((m) => m.mountpoint === ns.volume)
    .at(-1);
  assert.ok(volumeMount, `${ns.volume} is mounted in the namespace`);
  const under = (p: string) => p === ns.volume || p.startsWith(ns.volume + '/');
  const off: string[] = [];
  for (const pid of ns.pids()) {
    let fds: string[] = [];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      // A file on a detached mount shows its path within that mount: a mount id is the real test.
      const mnt = mountIdOf(`/proc/${pid}/fdinfo/${fd}`);
      const detached =
        !/^(socket|pipe|anon_inode):/.test(link) &&
        !mounts(pid).some((m) => m.id === mnt) &&
        !mounts('self').some((m) => m.id === mnt);
      if (under(link) ? mnt !== volumeMount.id : detached) {
        off.push(`pid ${pid} fd ${fd} ${link} (mount ${mnt}, the volume is ${volumeMount.id})`);
      }
    }
  }
  return off;
}

/** The checks every application case ends with. */
export function assertRecovered(ns: Namespace, mountTableBefore: string[], daemonDir: string): void {
  assert.deepEqual(filesOffTheVolume(ns), [], 'every file under the volume is on the volume itself');
  const chaosfs = (pid: number | 'self') => mounts(pid).filter((m) => m.fstype === 'fuse.chaosfs');
  assert.deepEqual(
    chaosfs(ns.pid).filter((m) => m.mountpoint.startsWith(ns.volume)),
    [],
    'no ChaosFS mount left in the namespace',
  );
  assert.deepEqual(
    chaosfs('self').filter((m) => m.mountpoint.startsWith(daemonDir)),
    [],
    "no staging mount left in the daemon's namespace",
  );
  assert.deepEqual(ns.mountTable(), mountTableBefore, 'the mount table is as before');
}

export async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 100) {
    if (check()) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting until ${what}`);
}

/** Lines of a file (under `outside`, say), or none yet. */
export function lines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * A TCP port on 127.0.0.1 no one listens on now. Apps share the host's network (the namespace is a
 * mount namespace only), so each case takes ports of its own; for a unix socket it is just a name.
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs kubectl-iochaos; on an unexpected exit code, fails with its stderr and the daemon's log. */
export function cli(d: TestDaemon, expect: number, ...args: string[]) {
  const r = d.cli(...args);
  assert.equal(r.status, expect, `${args.join(' ')}: ${r.stderr}\ndaemon log:\n${d.log().slice(-4000)}`);
  return r;
}

/** What every application case runs against: a daemon of its own and a fresh namespace. */
export interface AppCase {
  d: TestDaemon;
  ns: Namespace;
}

/**
 * Registers the hooks every application suite needs: before each case a daemon and a namespace
 * (`owner` as in startNamespace), after it both gone, with the daemon's log (and `failureLog`, the
 * app's own) printed when the case failed. The returned object holds the current case's pair.
 */
export function useAppNamespace(
  opts: { owner?: string; sizeMb?: number; failureLog?: () => string } = {},
): AppCase {
  const app = {} as AppCase;
  beforeEach(async () => {
    requireRootAndFuse();
    app.d = testDaemon();
    await app.d.start();
    app.ns = await startNamespace({ owner: opts.owner, sizeMb: opts.sizeMb });
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      process.stderr.write(`daemon log:\n${app.d?.log().slice(-6000)}\n${opts.failureLog?.() ?? ''}\n`);
    }
    await app.ns?.kill();
    await app.d?.cleanup();
    Object.assign(app, { d: undefined, ns: undefined });
  });
  return app;
}
