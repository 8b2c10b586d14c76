/**
 * What real programs do to an injected volume, with shell programs in a private mount namespace (as
 * in a container): fork workers that open files during the injection, exit while the rest of the
 * namespace goes on, stat their files under a lookup fault, rename and unlink open files, hold file
 * locks (a flock is carried onto ChaosFS and back; a POSIX lock cannot be, and recovery says so). Each case: inject -> work -> recover (through the real kubectl-iochaos) -> work -> checks.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertRecovered, cli as runCli, lines, until, useAppNamespace } from './support';

describe('applications: processes that fork, exit, stat, rename and lock during an injection', function () {
  this.timeout(120_000);
  const current = useAppNamespace();

  const cli = (expect: number, ...args: string[]) => runCli(current.d, expect, ...args);

  /** A shell program in the namespace whose failed writes after `phase2` exists go to errors-after. */
  const writerLoop = (body: string) =>
    `while [ ! -e ${current.ns.outside}/stop ]; do ${body}; sleep 0.05; done`;
  const failed = (what: string) =>
    `{ [ -e ${current.ns.outside}/phase2 ] && echo "${what}" >> ${current.ns.outside}/errors-after; true; }`;

  it('a forking server: workers forked and files opened during the injection are put back', async () => {
    const { d, ns } = current;
    const before = ns.mountTable();
    const V = ns.volume;
    const O = ns.outside;
    const server = ns.start(
      `cd ${V} && echo $$ > ${O}/server.pid && i=0; while [ ! -e ${O}/stop ] && [ $i -lt 40 ]; do i=$((i+1)); ` +
        `( exec 3>>${V}/w$i.log 2>>${O}/stderr; ${writerLoop(`echo w$i >&3 || ${failed('w$i')}`)} ) & sleep 0.2; done; wait`,
    );
    await until('the server runs', () => lines(`${O}/server.pid`).length > 0);
    const pid = Number(lines(`${O}/server.pid`)[0]);
    cli(0, 'delay', `pid/${pid}`, '--path', V, '--delay', '5ms', '--methods', 'write');
    await sleep(1500); // workers fork and open their files on ChaosFS
    const forkedDuring = ns.pids().length;
    cli(0, 'recover', `pid/${pid}`);
    fs.writeFileSync(`${O}/phase2`, '');
    await sleep(800);
    assert.ok(forkedDuring > 4, `workers were forked during the injection (${forkedDuring} processes)`);
    assertRecovered(ns, before, d.dir);
    fs.writeFileSync(`${O}/stop`, '');
    await new Promise((resolve) => server.once('exit', resolve));
    assert.deepEqual(lines(`${O}/errors-after`), [], 'no write failed after recovery');
    assert.doesNotMatch(fs.readFileSync(`${O}/stderr`, 'utf8'), /not connected/i);
  });

  it('the named target exits mid-injection: the injection lives on with the namespace, any pid of it recovers', async () => {
    const { d, ns } = current;
    const before = ns.mountTable();
    const V = ns.volume;
    const O = ns.outside;
    const named = ns.start(`cd ${V} && exec sleep 600`);
    const writer = ns.start(
      `echo $$ > ${O}/writer.pid; exec 3>>${V}/log 2>>${O}/stderr; ${writerLoop(`echo x >&3 || ${failed('x')}`)}`,
    );
    await until('the writer runs', () => lines(`${O}/writer.pid`).length > 0);
    const writerPid = Number(lines(`${O}/writer.pid`)[0]);
    cli(0, 'delay', `pid/${named.pid}`, '--path', V, '--delay', '5ms', '--methods', 'write');
    named.kill('SIGKILL');
    await new Promise((resolve) => named.once('exit', resolve));
    await sleep(1500); // the watchdog runs every 500 ms: it must not recover while the writer lives
    const status = JSON.parse(d.cli('status', `pid/${writerPid}`, '-o', 'json').stdout)[0].result.injections;
    assert.equal(status.length, 1, 'status by another pid of the namespace finds the injection');
    assert.equal(status[0].state, 'active');
    cli(0, 'recover', `pid/${writerPid}`);
    fs.writeFileSync(`${O}/phase2`, '');
    await sleep(500);
    assertRecovered(ns, before, d.dir);
    fs.writeFileSync(`${O}/stop`, '');
    await new Promise((resolve) => writer.once('exit', resolve));
    assert.deepEqual(lines(`${O}/errors-after`), []);
  });

  it('an app that stats its file by path under a 30% getattr/lookup EIO: writes work after recovery', async () => {
    const { d, ns } = current;
    const before = ns.mountTable();
    const V = ns.volume;
    const O = ns.outside;
    const app = ns.start(
      `echo $$ > ${O}/app.pid; exec 3>>${V}/log.txt 2>>${O}/stderr; ` +
        writerLoop(`stat ${V}/log.txt >/dev/null 2>&1; echo x >&3 || ${failed('write')}`),
    );
    await until('the app runs', () => lines(`${O}/app.pid`).length > 0);
    const pid = Number(lines(`${O}/app.pid`)[0]);
    cli(0, 'fault', `pid/${pid}`, '--path', V, '--errno', 'EIO', '--percent', '30', '--seed', '7');
    await sleep(1500);
    cli(0, 'recover', `pid/${pid}`);
    fs.writeFileSync(`${O}/phase2`, '');
    await sleep(800);
    assertRecovered(ns, before, d.dir);
    fs.writeFileSync(`${O}/stop`, '');
    await new Promise((resolve) => app.once('exit', resolve));
    assert.deepEqual(lines(`${O}/errors-after`), [], 'every write after recovery succeeded');
  });

  it('files renamed and unlinked while open during the injection go back to the same files', async () => {
    const { d, ns } = current;
    const before = ns.mountTable();
    const V = ns.volume;
    const O = ns.outside;
    const app = ns.start(
      `echo $$ > ${O}/app.pid; exec 3>>${V}/a 4>>${V}/c 2>>${O}/stderr; ` +
        writerLoop(
          `if [ -e ${O}/go ] && [ ! -e ${O}/moved ]; then exec 5>>${V}/opened-during; mv ${V}/a ${V}/b; mv ${V}/opened-during ${V}/renamed; rm ${V}/c; touch ${O}/moved; fi; ` +
            `echo x >&3 && echo y >&4 && { [ ! -e ${O}/moved ] || echo z >&5; } || ${failed('write')}`,
        ),
    );
    await until('the app runs', () => lines(`${O}/app.pid`).length > 0);
    const pid = Number(lines(`${O}/app.pid`)[0]);
    cli(0, 'delay', `pid/${pid}`, '--path', V, '--delay', '1ms');
    fs.writeFileSync(`${O}/go`, '');
    await until('the app renamed and unlinked its files', () => fs.existsSync(`${O}/moved`));
    await sleep(300);
    cli(0, 'recover', `pid/${pid}`);
    fs.writeFileSync(`${O}/phase2`, '');
    const sizes = () =>
      ns.run(`stat -c %s ${V}/b ${V}/renamed`).stdout.split('\n').filter(Boolean).map(Number);
    const sizesAfterRecover = sizes();
    await sleep(800);
    assertRecovered(ns, before, d.dir);
    const grown = sizes();
    assert.ok(
      grown[0] > sizesAfterRecover[0] && grown[1] > sizesAfterRecover[1],
      `writes after recovery land in the renamed files (${sizesAfterRecover} -> ${grown})`,
    );
    fs.writeFileSync(`${O}/stop`, '');
    await new Promise((resolve) => app.once('exit', resolve));
    assert.deepEqual(lines(`${O}/errors-after`), []);
  });

  it('stdout and stderr sent to one file stay one open file, in the process and in its child: no line lost', async () => {
    const { d, ns } = current;
    const before = ns.mountTable();
    const V = ns.volume;
    const O = ns.outside;
    // `> log 2>&1`: fds 1 and 2 of the shell, and those of the child it forks, are ONE open file with
    // one offset. Moved as separate open files, each would write at its own offset over the others.
    const app = ns.start(
      `exec > ${V}/app.log 2>&1; echo $$ > ${O}/app.pid; ` +
        `( sh -c 'echo $PPID' > ${O}/child.pid; ` +
        `while [ ! -e ${O}/stop ]; do sleep 0.05; done ) & ` +
        `i=0; while [ ! -e ${O}/stop ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); sleep 0.01; done; wait`,
    );
    await until(
      'the app and its child run',
      () => lines(`${O}/app.pid`).length > 0 && lines(`${O}/child.pid`).length > 0,
    );
    const pid = Number(lines(`${O}/app.pid`)[0]);
    const child = Number(lines(`${O}/child.pid`)[0]);
    // kcmp(2): 0 when two fds are the same open file.
    const sameFile = (pidA: number, fdA: number, pidB: number, fdB: number) =>
      spawnSync(
        'python3',
        ['-c', `import ctypes; print(ctypes.CDLL(None).syscall(312, ${pidA}, ${pidB}, 0, ${fdA}, ${fdB}))`],
        {
          encoding: 'utf8',
        },
      ).stdout.trim();
    const oneOpenFile = (when: string) => {
      assert.equal(sameFile(pid, 1, pid, 2), '0', `${when}: the shell's fds 1 and 2 are one open file`);
      assert.equal(sameFile(pid, 1, child, 1), '0', `${when}: and its child's fd 1 is that open file too`);
    };
    oneOpenFile('before');
    await sleep(300);
    cli(0, 'delay', `pid/${pid}`, '--path', V, '--delay', '1ms', '--methods', 'write');
    const fuse = fs
      .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
      .split('\n')
      .find((l) => / - fuse\.chaosfs /.test(l))!;
    for (const [p, fd] of [
      [pid, 1],
      [pid, 2],
      [child, 1],
    ] as const) {
      const info = fs.readFileSync(`/proc/${p}/fdinfo/${fd}`, 'utf8');
      assert.match(
        info,
        new RegExp(`^mnt_id:\\s+${fuse.split(' ')[0]}$`, 'm'),
        `pid ${p} fd ${fd} is on ChaosFS`,
      );
    }
    oneOpenFile('injected');
    await sleep(1000);
    cli(0, 'recover', `pid/${pid}`);
    oneOpenFile('recovered');
    await sleep(500);
    fs.writeFileSync(`${O}/stop`, '');
    await new Promise((resolve) => app.once('exit', resolve));
    assertRecovered(ns, before, d.dir);
    const log = ns.run(`cat ${V}/app.log`).stdout.split('\n').slice(0, -1);
    const malformed = log.filter((l) => !/^(out|err) \d+$/.test(l));
    assert.deepEqual(malformed.slice(0, 5), [], `every line whole (${malformed.length} not)`);
    for (const what of ['out', 'err']) {
      const seq = log.filter((l) => l.startsWith(`${what} `)).map((l) => Number(l.split(' ')[1]));
      assert.ok(seq.length > 100, `${what}: ${seq.length} lines`);
      assert.deepEqual(
        seq.filter((n, k) => n !== k).slice(0, 5),
        [],
        `${what}: every line from 0 to ${seq.length - 1} once, in order`,
      );
    }
  });

  it('a flock is carried onto ChaosFS and back: no other process can take it at any point', async () => {
    const { d, ns } = current;
    const before = ns.mountTable();
    const V = ns.volume;
    const O = ns.outside;
    const app = ns.start(
      `exec 5>>${V}/flocked; flock 5; echo $$ > ${O}/app.pid; ` +
        writerLoop(
          `if [ -e ${O}/unlock ] && [ ! -e ${O}/unlocked ]; then flock -u 5; touch ${O}/unlocked; fi`,
        ),
    );
    await until('the app holds its lock', () => lines(`${O}/app.pid`).length > 0);
    const pid = Number(lines(`${O}/app.pid`)[0]);
    // Another process of the namespace asks for the same lock, without waiting: 1 while it is held.
    const tryLock = () => ns.run(`flock -n ${V}/flocked true`).status;
    assert.equal(tryLock(), 1, 'held before the injection');
    cli(0, 'delay', `pid/${pid}`, '--path', V, '--delay', '1ms');
    const fd5 = () => fs.readFileSync(`/proc/${pid}/fdinfo/5`, 'utf8');
    const fuseMount = fs
      .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
      .split('\n')
      .find((l) => / - fuse\.chaosfs /.test(l));
    assert.ok(fuseMount, 'ChaosFS is mounted in the namespace');
    assert.match(fd5(), new RegExp(`^mnt_id:\\s+${fuseMount.split(' ')[0]}$`, 'm'), 'fd 5 is on ChaosFS');
    assert.match(fd5(), /^lock:.*FLOCK +ADVISORY +WRITE/m, 'and holds its lock there');
    assert.equal(tryLock(), 1, 'held on ChaosFS: the other process, on ChaosFS too, cannot take it');
    cli(0, 'recover', `pid/${pid}`);
    assert.match(fd5(), /^lock:.*FLOCK +ADVISORY +WRITE/m, 'still held after recovery');
    assert.equal(tryLock(), 1, 'held on the volume again');
    fs.writeFileSync(`${O}/unlock`, '');
    await until('the app let go of the lock', () => fs.existsSync(`${O}/unlocked`));
    assert.equal(tryLock(), 0, "the lock is the app's own: once it lets go, another process takes it");
    assertRecovered(ns, before, d.dir);
    fs.writeFileSync(`${O}/stop`, '');
    await new Promise((resolve) => app.once('exit', resolve));
  });

  it('a POSIX lock taken through one fd of a file keeps every fd of that file where it is: the lock is never let go', async () => {
    const { d, ns } = current;
    const before = ns.mountTable();
    const V = ns.volume;
    const O = ns.outside;
    // Two fds of one file, the lock taken through the first: a close of EITHER lets it go.
    fs.writeFileSync(
      `${O}/holder.py`,
      [
        'import fcntl, os, time',
        `a = open("${V}/plocked", "a"); b = open("${V}/plocked", "r"); fcntl.lockf(a, fcntl.LOCK_EX)`,
        `open("${O}/holder.pid", "w").write(str(os.getpid()))`,
        `while not os.path.exists("${O}/stop"): time.sleep(0.05)`,
      ].join('\n'),
    );
    const holder = ns.start(`exec python3 ${O}/holder.py`);
    await until('the holder holds its lock', () => lines(`${O}/holder.pid`).length > 0);
    const pid = Number(lines(`${O}/holder.pid`)[0]);
    const tryLock = () =>
      ns.run(
        `python3 -c 'import fcntl; fcntl.lockf(open("${V}/plocked", "a"), fcntl.LOCK_EX | fcntl.LOCK_NB)'`,
      ).status;
    assert.notEqual(tryLock(), 0, 'held before the injection');
    const refused = cli(1, 'delay', `pid/${pid}`, '--path', V, '--delay', '1ms');
    assert.match(refused.stderr, /failed and was rolled back/, refused.stderr);
    assert.match(refused.stderr, /POSIX/, refused.stderr);
    assert.notEqual(tryLock(), 0, 'still held: neither fd of the file was closed');
    assertRecovered(ns, before, d.dir);
    fs.writeFileSync(`${O}/stop`, '');
    await new Promise((resolve) => holder.once('exit', resolve));
  });

  it('never says "recovered" while a file is left: names it, exits 1, status shows it, a second recover finishes', async () => {
    const { d, ns } = current;
    const before = ns.mountTable();
    const V = ns.volume;
    const O = ns.outside;
    // A POSIX lock (fcntl F_SETLK) belongs to the process, and any close of an fd of its file lets it
    // go: the fd holding one cannot be swapped. A holder takes one on a file opened during the injection.
    const holder = [
      'import fcntl, os, sys, time',
      `f = open("${V}/locked", "a"); fcntl.lockf(f, fcntl.LOCK_EX)`,
      `open("${O}/holder", "w").write(f"{os.getpid()} {f.fileno()}")`,
      `while not os.path.exists("${O}/unlock"): time.sleep(0.05)`,
      `fcntl.lockf(f, fcntl.LOCK_UN); open("${O}/unlocked", "w")`,
      `while not os.path.exists("${O}/stop"): time.sleep(0.05)`,
    ].join('\n');
    fs.writeFileSync(`${O}/holder.py`, holder);
    const app = ns.start(
      `echo $$ > ${O}/app.pid; ` +
        writerLoop(
          `if [ -e ${O}/lock ] && [ ! -e ${O}/started ]; then touch ${O}/started; python3 ${O}/holder.py & fi`,
        ),
    );
    await until('the app runs', () => lines(`${O}/app.pid`).length > 0);
    const pid = Number(lines(`${O}/app.pid`)[0]);
    cli(0, 'delay', `pid/${pid}`, '--path', V, '--delay', '1ms');
    fs.writeFileSync(`${O}/lock`, '');
    await until(
      'a process holds a lock on a file opened during the injection',
      () => fs.existsSync(`${O}/holder`) && lines(`${O}/holder`).length > 0,
    );
    const [holderPid, holderFd] = lines(`${O}/holder`)[0]!.split(' ');
    const first = cli(1, 'recover', `pid/${pid}`);
    assert.equal(first.status, 1, `recover fails while something is left: ${first.stdout}`);
    assert.match(first.stderr, new RegExp(`pid ${holderPid} fd ${holderFd} \\S*/locked`), first.stderr);
    assert.match(first.stderr, /POSIX/, first.stderr);
    const status = JSON.parse(d.cli('status', '-o', 'json').stdout)[0].result.injections;
    assert.equal(status[0].state, 'recover-incomplete');
    assert.ok(
      status[0].left.some((l: string) => l.includes(`pid ${holderPid} fd ${holderFd}`)),
      JSON.stringify(status[0].left),
    );
    fs.writeFileSync(`${O}/unlock`, '');
    await until('the holder let go of the lock', () => fs.existsSync(`${O}/unlocked`));
    cli(0, 'recover', `pid/${pid}`);
    assertRecovered(ns, before, d.dir);
    fs.writeFileSync(`${O}/stop`, '');
    await new Promise((resolve) => app.once('exit', resolve));
  });
});
