/**
 * ChaosFS with no rule grants an unprivileged app exactly what the volume itself grants it: the
 * worker runs as root, so each refusal below is the kernel's (default_permissions) or the backing
 * file system's under the caller's credentials, never the worker's. And the mount is nosuid,nodev:
 * a set-uid file or a device node on the volume gives the app nothing it did not have.
 * Every case runs as uid 4321 through the mount and checks the backing file afterwards.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requireRootAndFuse } from '../support/root';
import { startChaosFs, type ChaosFsProcess } from '../support/chaosfs-process';

const UID = 4321;
const GID = 4322;

describe('security: permissions through a ChaosFS mount with no rule', () => {
  let c: ChaosFsProcess;
  before(async () => {
    requireRootAndFuse();
    c = await startChaosFs();
    fs.chmodSync(c.dir, 0o755); // mkdtemp's 0700 would stop the app at the door
    fs.chmodSync(c.mnt, 0o755);
  });
  after(async () => {
    await c?.cleanup();
  });

  /** Runs a shell command as the app (uid 4321, no groups); its exit status and stderr. */
  const asApp = (script: string) => {
    const r = spawnSync(
      'setpriv',
      ['--reuid', String(UID), '--regid', String(GID), '--clear-groups', 'sh', '-c', script],
      {
        encoding: 'utf8',
        cwd: '/',
      },
    );
    return { status: r.status, stderr: r.stderr, stdout: r.stdout };
  };
  const src = (name: string) => path.join(c.src, name);
  const mnt = (name: string) => path.join(c.mnt, name);

  it('refuses reading a root file of mode 0600 and listing a root directory of mode 0700 (EACCES)', () => {
    fs.writeFileSync(src('secret'), 'root only\n', { mode: 0o600 });
    fs.mkdirSync(src('private'), { mode: 0o700 });
    fs.writeFileSync(src('private/inside'), 'x');
    let r = asApp(`cat ${mnt('secret')}`);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Permission denied/);
    assert.equal(r.stdout, '');
    r = asApp(`ls ${mnt('private')}`);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Permission denied/);
    r = asApp(`cat ${mnt('private/inside')}`);
    assert.match(r.stderr, /Permission denied/);
  });

  it('refuses writing, truncating, chmod and chown of a root file of mode 0644; the file is as it was', () => {
    fs.writeFileSync(src('readonly'), 'original\n', { mode: 0o644 });
    assert.match(asApp(`echo more >> ${mnt('readonly')}`).stderr, /Permission denied/);
    assert.match(asApp(`: > ${mnt('readonly')}`).stderr, /Permission denied/);
    assert.match(asApp(`chmod 666 ${mnt('readonly')}`).stderr, /Operation not permitted/);
    assert.match(asApp(`chown ${UID} ${mnt('readonly')}`).stderr, /Operation not permitted/);
    assert.match(
      asApp(`touch -d 2001-01-01 ${mnt('readonly')}`).stderr,
      /Operation not permitted|Permission denied/,
    );
    const st = fs.statSync(src('readonly'));
    assert.equal(fs.readFileSync(src('readonly'), 'utf8'), 'original\n');
    assert.deepEqual([st.mode & 0o7777, st.uid, st.gid], [0o644, 0, 0]);
    assert.ok(st.mtime.getFullYear() > 2001);
  });

  it('in a sticky directory the app may not remove or rename a file of root, but removes its own; what it makes is its own', () => {
    fs.mkdirSync(src('tmp'));
    fs.chmodSync(src('tmp'), 0o1777);
    fs.writeFileSync(src('tmp/roots'), 'r');
    assert.match(asApp(`rm -f ${mnt('tmp/roots')}`).stderr, /Operation not permitted/);
    assert.match(asApp(`mv ${mnt('tmp/roots')} ${mnt('tmp/taken')}`).stderr, /Operation not permitted/);
    assert.ok(fs.existsSync(src('tmp/roots')));
    let r = asApp(`echo mine > ${mnt('tmp/mine')} && mkdir ${mnt('tmp/dir')} && mkfifo ${mnt('tmp/fifo')}`);
    assert.equal(r.status, 0, r.stderr);
    for (const name of ['tmp/mine', 'tmp/dir', 'tmp/fifo']) {
      const st = fs.lstatSync(src(name));
      assert.deepEqual([st.uid, st.gid], [UID, GID], `${name} belongs to its creator`);
    }
    r = asApp(`rm ${mnt('tmp/mine')} && rmdir ${mnt('tmp/dir')} && rm ${mnt('tmp/fifo')}`);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(fs.readdirSync(src('tmp')), ['roots']);
  });

  it("is nosuid: a set-uid root program on the volume runs with the app's own uid", () => {
    fs.copyFileSync('/usr/bin/id', src('id-suid'));
    fs.chmodSync(src('id-suid'), 0o4755);
    const r = asApp(`${mnt('id-suid')} -u`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), String(UID));
    const options = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .find((l) => l.split(' ')[4] === c.mnt)!
      .split(' ')[5]!
      .split(',');
    assert.ok(options.includes('nosuid') && options.includes('nodev'), `mount options: ${options}`);
  });

  it('is nodev: a device node on the volume cannot be opened through the mount, even by root', () => {
    const made = spawnSync('mknod', [src('null'), 'c', '1', '3']);
    assert.equal(made.status, 0, String(made.stderr));
    fs.chmodSync(src('null'), 0o666);
    assert.match(asApp(`echo x > ${mnt('null')}`).stderr, /Permission denied/);
    const asRoot = spawnSync('sh', ['-c', `echo x > ${mnt('null')}`], { encoding: 'utf8' });
    assert.match(asRoot.stderr, /Permission denied/);
  });
});
