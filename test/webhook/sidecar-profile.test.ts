/**
 * The capabilities profile's list (webhook/sidecar-security.ts) held to the real daemon: started
 * under exactly those capabilities (setpriv bounding set; root keeps only what the set allows), it
 * injects into and recovers an app in its own mount namespace whose files are private to another
 * user (0700, uid 1000), with nothing lost. Without CAP_SYS_ADMIN the same injection fails and leaves
 * the app as it was, so the test can tell a list that is too short.
 *
 * What this machine cannot show: its own bounding set lacks CAP_SYS_RESOURCE (see CapBnd in
 * /proc/self/status), so here nothing gets it, and prlimit(2) on a process of another user fails even
 * for full root. The app therefore runs as root here; the capabilities that only matter across users
 * (CAP_SYS_PTRACE, CAP_KILL, CAP_SYS_RESOURCE) are listed from the code, not from this test.
 */
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { SIDECAR_CAPABILITIES } from '../../webhook/sidecar-security';
import { type TestDaemon, testDaemon } from '../support/daemon';
import { useScratch } from '../support/scratch';

const APP_UID = 1000;

const underCaps = (caps: string[]): string[] => [
  'setpriv',
  `--bounding-set=-all,${caps.map((c) => `+${c.toLowerCase()}`).join(',')}`,
  '--inh-caps=-all',
  '--',
];

interface App {
  pid: number;
  volume: string;
  child: ChildProcess;
  write(line: string): Promise<void>;
  /** The mount id of the app's fd 3 (the log it holds open). */
  fdMount(): string;
  log(): string;
}

/** A shell holding V/private/log open (a 0700 directory of uid 1000), on a tmpfs in its own mount namespace. */
async function startApp(scratch: () => string): Promise<App> {
  const volume = scratch();
  const script =
    `mount -t tmpfs caps-volume "$0" && mkdir -m 0700 "$0/private" && chown -R ${APP_UID}:${APP_UID} "$0" && ` +
    `exec sh -c 'exec 3>>"$0/private/log"; echo ready; while read l; do ` +
    // "new NAME" creates a file (a new open through ChaosFS); anything else is appended to the log.
    `case "$l" in new\\ *) echo made > "$0/private/\${l#new }";; *) echo "$l" >&3;; esac && echo ok || echo fail; ` +
    `done' "$0"`;
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, volume], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout! });
  const waiting: ((l: string) => void)[] = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  const next = () => new Promise<string>((resolve) => waiting.push(resolve));
  assert.equal(await next(), 'ready');
  const pid = child.pid!;
  return {
    pid,
    volume,
    child,
    async write(line) {
      const reply = next();
      child.stdin!.write(line + '\n');
      assert.equal(await reply, 'ok', `the app could not write ${line}`);
    },
    fdMount: () => /^mnt_id:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/3`, 'utf8'))![1]!,
    log: () => fs.readFileSync(`/proc/${pid}/root${volume}/private/log`, 'utf8'),
  };
}

describe('webhook: the capabilities profile is enough for the real daemon (setpriv)', function () {
  const scratch = useScratch('iochaos-caps-');
  this.timeout(120_000);
  let d: TestDaemon | undefined;
  let app: App | undefined;
  afterEach(async () => {
    app?.child.kill('SIGKILL');
    app = undefined;
    await d?.cleanup();
    d = undefined;
  });

  it(`injects and recovers with only the ${SIDECAR_CAPABILITIES.length} listed capabilities, files of uid ${APP_UID} included`, async () => {
    d = testDaemon({ wrap: underCaps(SIDECAR_CAPABILITIES.map((c) => c.cap)) });
    await d.start();
    const daemonCaps = fs.readFileSync(`/proc/${d.process!.pid}/status`, 'utf8');
    assert.doesNotMatch(
      daemonCaps,
      /^CapEff:\s*000001ffffffffff$/m,
      'the daemon runs with fewer capabilities',
    );
    app = await startApp(scratch);
    const before = app.fdMount();
    await app.write('record-1');
    const inject = d.cli(
      'delay',
      `pid/${app.pid}`,
      '--path',
      app.volume,
      '--delay',
      '1ms',
      '--methods',
      'write',
    );
    assert.equal(inject.status, 0, inject.stderr + d.log());
    assert.notEqual(app.fdMount(), before, 'the held fd was moved onto ChaosFS');
    await app.write('record-2');
    await app.write('new during');
    const recover = d.cli('recover', `pid/${app.pid}`);
    assert.equal(recover.status, 0, recover.stderr + d.log());
    assert.equal(app.fdMount(), before, 'the fd is back on the original volume');
    await app.write('record-3');
    assert.equal(app.log(), 'record-1\nrecord-2\nrecord-3\n');
    assert.equal(fs.readFileSync(`/proc/${app.pid}/root${app.volume}/private/during`, 'utf8'), 'made\n');
  });

  it('without CAP_SYS_ADMIN the injection fails and the app keeps its files', async () => {
    d = testDaemon({
      wrap: underCaps(SIDECAR_CAPABILITIES.map((c) => c.cap).filter((c) => c !== 'SYS_ADMIN')),
    });
    await d.start();
    app = await startApp(scratch);
    const before = app.fdMount();
    const inject = d.cli('delay', `pid/${app.pid}`, '--path', app.volume, '--delay', '1ms');
    assert.notEqual(inject.status, 0, inject.stdout);
    assert.equal(app.fdMount(), before);
    await app.write('after');
    assert.equal(app.log(), 'after\n');
  });
});
