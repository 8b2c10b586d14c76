/**
 * etcd (Debian's etcd-server, 3.4) in a private mount namespace with its data directory (WAL and
 * bbolt) on the volume. A writer on the host puts sequenced keys through the gRPC gateway (HTTP)
 * before, during and after an injection and records each put etcd acknowledged.
 *
 * etcd is what a fd swap finds hard: it holds a flock on its bbolt db and OFD locks on its WAL files
 * for its whole life, and bbolt reads the db through a MAP_SHARED mapping while writing it with pwrite.
 * fdswap takes the locks again on the new files before the old ones close, and moves the mapping with
 * its file (with the mapping alone moved, bbolt read stale pages and panicked: "page already freed").
 * Checked: the injection takes every fd of etcd's on the volume onto ChaosFS with its locks, the delay
 * fires, no put fails, every acknowledged key is there with its value (also after etcd restarts on the
 * same data directory), `etcdctl endpoint health`, nothing in etcd's log about I/O, and the namespace
 * is as before, every fd on the volume's own mount.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertRecovered, cli, freePort, lines, until, useAppNamespace, type Namespace } from './support';

/** The writer: one put per key, `/seq/<i>` = `v<i>-` and padding, each acknowledged one recorded. */
const WRITER = `
import base64, json, os, sys, time, urllib.request
url, out = sys.argv[1], sys.argv[2]
b64 = lambda s: base64.b64encode(s.encode()).decode()
acked = open(os.path.join(out, "acked"), "a")
errors = open(os.path.join(out, "errors"), "a")
i = 0
while not os.path.exists(os.path.join(out, "stop")):
    i += 1
    body = json.dumps({"key": b64(f"/seq/{i:08d}"), "value": b64(f"v{i}-" + "x" * 200)}).encode()
    request = urllib.request.Request(url + "/v3/kv/put", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            json.load(reply)
        acked.write(f"{i}\\n"); acked.flush()
    except Exception as e:
        errors.write(f"{i} {e}\\n"); errors.flush()
    time.sleep(0.005)
`;

interface Etcd {
  url: string;
  pid: number;
  etcdctl(...args: string[]): ReturnType<typeof spawnSync>;
  healthy(): boolean;
  log(): string;
  /** SIGTERM; resolves once it exited. */
  stop(): Promise<void>;
  /** Starts it (again) on the same data directory; resolves once it answers. */
  start(): Promise<void>;
}

async function startEtcd(ns: Namespace): Promise<Etcd> {
  const client = `http://127.0.0.1:${await freePort()}`;
  const peer = `http://127.0.0.1:${await freePort()}`;
  const logFile = path.join(ns.outside, 'etcd.log');
  const flags = [
    '--name iochaos',
    `--data-dir ${ns.volume}/etcd`,
    `--listen-client-urls ${client}`,
    `--advertise-client-urls ${client}`,
    `--listen-peer-urls ${peer}`,
    `--initial-advertise-peer-urls ${peer}`,
    `--initial-cluster iochaos=${peer}`,
    '--logger zap',
    '--log-outputs stderr',
  ].join(' ');
  let server: ChildProcess | undefined;
  const etcdctl = (...args: string[]) =>
    spawnSync('etcdctl', ['--endpoints', client, '--command-timeout', '20s', ...args], {
      encoding: 'utf8',
      env: { ...process.env, ETCDCTL_API: '3' },
    });
  const etcd: Etcd = {
    url: client,
    get pid() {
      return server!.pid!;
    },
    etcdctl,
    healthy: () => etcdctl('endpoint', 'health').status === 0,
    log: () => fs.readFileSync(logFile, 'utf8'),
    async stop() {
      const s = server!;
      s.kill('SIGTERM');
      if (s.exitCode === null && s.signalCode === null) await new Promise((r) => s.once('exit', r));
    },
    async start() {
      // nsenter and sh exec into etcd: the child's pid is etcd's.
      server = ns.start(`exec etcd ${flags} 2>>${logFile}`);
      await until('etcd is healthy', etcd.healthy, 60_000);
    },
  };
  await etcd.start();
  return etcd;
}

/** Every /seq/ key etcd has now, with its value. */
function keys(etcd: Etcd): Map<number, string> {
  const r = etcd.etcdctl('get', '/seq/', '--prefix');
  assert.equal(r.status, 0, `etcdctl get: ${String(r.stderr)}`);
  const out = String(r.stdout).split('\n');
  const found = new Map<number, string>();
  for (let i = 0; i + 1 < out.length; i += 2) found.set(Number(out[i]!.slice('/seq/'.length)), out[i + 1]!);
  return found;
}

describe('applications: etcd 3.4 with a sequenced writer', function () {
  this.timeout(180_000);
  let etcd: Etcd | undefined;
  let writer: ChildProcess | undefined;
  const current = useAppNamespace({ failureLog: () => `etcd log:\n${etcd?.log().slice(-4000)}` });
  afterEach(() => {
    writer?.kill('SIGKILL');
    writer = etcd = undefined;
  });

  it('injected under a write/fsync delay while a writer puts keys, then recovered: no put fails, every acknowledged key there', async () => {
    const { d, ns } = current;
    const before = ns.mountTable();
    const O = ns.outside;
    etcd = await startEtcd(ns);
    fs.writeFileSync(`${O}/writer.py`, WRITER);
    writer = spawn('python3', [`${O}/writer.py`, etcd.url, O], { stdio: 'ignore' });
    const acked = () => lines(`${O}/acked`);
    await until('the writer puts keys', () => acked().length > 30);

    const pid = etcd.pid;
    const target = `pid/${pid}`;
    cli(d, 0, 'delay', target, '--path', ns.volume, '--delay', '2ms', '--methods', 'write,fsync');
    // Every file etcd holds on the volume, its locked db and WAL and its db mapping, is on ChaosFS.
    const fuse = fs
      .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
      .split('\n')
      .find((l) => / - fuse\.chaosfs /.test(l));
    assert.ok(fuse, 'ChaosFS is mounted in the namespace');
    const fuseId = fuse.split(' ')[0];
    const member = `${ns.volume}/etcd/member`;
    const onVolume = fs
      .readdirSync(`/proc/${pid}/fd`)
      .map((fd) => ({ fd, link: fs.readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: 'utf8' }) }))
      .filter((f) => f.link.startsWith(member));
    assert.ok(
      onVolume.some((f) => f.link.endsWith('/snap/db')) && onVolume.some((f) => f.link.endsWith('.wal')),
    );
    for (const f of onVolume) {
      const info = fs.readFileSync(`/proc/${pid}/fdinfo/${f.fd}`, 'utf8');
      assert.match(
        info,
        new RegExp(`^mnt_id:\\s+${fuseId}$`, 'm'),
        `fd ${f.fd} ${f.link} is on ChaosFS (mount ${fuseId}): ${info}`,
      );
    }
    const locks = onVolume.map((f) => fs.readFileSync(`/proc/${pid}/fdinfo/${f.fd}`, 'utf8'));
    assert.ok(
      locks.some((l) => /^lock:/m.test(l)),
      'its locks came with its files',
    );
    const injectedAt = acked().length;
    await until('puts go on under the delay', () => acked().length > injectedAt + 100);
    const counters = JSON.parse(cli(d, 0, 'status', '-o', 'json').stdout)[0].result.injections[0];
    assert.ok(
      counters.rules.some((r: { injected: number }) => r.injected > 0),
      `the delay fired: ${JSON.stringify(counters.rules)}`,
    );
    cli(d, 0, 'recover', target);
    assertRecovered(ns, before, d.dir);
    const mark = acked().length;
    await until('puts go on after the recovery', () => acked().length > mark + 100);
    fs.writeFileSync(`${O}/stop`, '');
    await new Promise((resolve) => writer!.once('exit', resolve));

    assert.deepEqual(lines(`${O}/errors`), [], 'no put failed, before, during or after the injection');
    assert.ok(
      etcd.healthy(),
      `etcdctl endpoint health: ${String(etcd.etcdctl('endpoint', 'health').stderr)}`,
    );
    const missingOrWrong = (found: Map<number, string>) =>
      acked()
        .map(Number)
        .filter((i) => found.get(i) !== `v${i}-${'x'.repeat(200)}`);
    assert.deepEqual(missingOrWrong(keys(etcd)), [], 'every acknowledged key is there with its value');
    // The WAL and the db written across the injection are sound: etcd restarts on them.
    await etcd.stop();
    await etcd.start();
    assert.deepEqual(missingOrWrong(keys(etcd)), [], 'every acknowledged key is there after a restart');
    assert.doesNotMatch(etcd.log(), /not connected|"level":"(panic|fatal)"/i, 'no I/O error in the etcd log');
    await etcd.stop();
    assertRecovered(ns, before, d.dir);
  });
});
