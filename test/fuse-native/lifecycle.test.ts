/**
 * Defect 9: unmounting is umount2(MNT_DETACH) from the addon (no fusermount), and close() ends the
 * session cleanly wherever the mount went: moved with mount --move, or detached by someone else.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { close, fuseMountsUnder, Fuse, fuseNativeDir, mount, passthrough, run, eachSandbox } from './support';

describe('fuse-native: mount and close (defect 9)', function () {
  const box = eachSandbox();

  it('serves a pass-through, and close() detaches it and ends the session', async function () {
    const b = box();
    const fuse = await mount(b, passthrough(b.backing).ops);
    assert.deepEqual(fuseMountsUnder(b.base), [b.mnt]);
    assert.match(fuse.device ?? '', /^\d+:\d+$/);
    const cat = await run('cat', [path.join(b.mnt, 'hello')]);
    assert.equal(cat.stdout, 'hello world\n');
    await close(fuse);
    assert.deepEqual(fuseMountsUnder(b.base), []);
    assert.equal(fuse.stats(), null);
  });

  it('close({ mountpoint }) after mount --move detaches the mount where it went', async function () {
    const b = box();
    const fuse = await mount(b, passthrough(b.backing).ops);
    const moved = path.join(b.base, 'moved');
    fs.mkdirSync(moved);
    const mv = await run('mount', ['--move', b.mnt, moved]);
    assert.equal(mv.code, 0, mv.stderr);
    assert.equal((await run('cat', [path.join(moved, 'hello')])).stdout, 'hello world\n');
    // Something else now sits at the old path: close() must not touch it.
    const tmpfs = await run('mount', ['-t', 'tmpfs', 'none', b.mnt]);
    assert.equal(tmpfs.code, 0, tmpfs.stderr);
    try {
      await close(fuse, { mountpoint: moved });
      assert.deepEqual(fuseMountsUnder(b.base), []);
      assert.equal(
        (await run('mountpoint', ['-q', b.mnt])).code,
        0,
        'the tmpfs at the old path is still mounted',
      );
    } finally {
      await run('umount', [b.mnt]);
    }
  });

  it('close() finds a moved mount by its device even when nobody said where it went', async function () {
    const b = box();
    const fuse = await mount(b, passthrough(b.backing).ops);
    const moved = path.join(b.base, 'elsewhere');
    fs.mkdirSync(moved);
    assert.equal((await run('mount', ['--move', b.mnt, moved])).code, 0);
    await close(fuse);
    assert.deepEqual(fuseMountsUnder(b.base), []);
  });

  it('close() ends the session when someone else detached the mount while a file on it stays open', async function () {
    const b = box();
    const fuse = await mount(b, passthrough(b.backing).ops);
    // The open file keeps the superblock (and so the session) alive after the lazy unmount. The holder
    // says when it has the file open, and reads again only when told (no sleeps on either side).
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('fs'); const fd = fs.openSync(process.argv[1], 'r'); console.log('open');` +
          `process.stdin.once('data', () => { try { fs.readSync(fd, Buffer.alloc(5)); console.log('read ok') } catch (e) { console.log(e.code) } process.exit(0) })`,
        path.join(b.mnt, 'hello'),
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let out = '';
    const lines = readline.createInterface({ input: holder.stdout });
    const exited = new Promise((resolve) => holder.on('close', resolve));
    lines.on('line', (l) => (out += l + '\n'));
    await once(lines, 'line'); // 'open'
    assert.equal((await run('umount', ['-l', b.mnt])).code, 0);
    assert.deepEqual(fuseMountsUnder(b.base), []);
    await close(fuse);
    assert.equal(fuse.stats(), null);
    holder.stdin.end('read\n');
    await exited;
    assert.match(out, /^open\n/);
    assert.doesNotMatch(out, /read ok/, 'the session had to end before the held file was read again');
  });

  it('mounts and closes in a process that has no fusermount on PATH, which then exits by itself', async function () {
    const b = box();
    const script = `
      const Fuse = require(${JSON.stringify(fuseNativeDir)});
      const f = new Fuse(process.argv[1], { getattr: (p, cb) => cb(0, { mode: 0o40755, size: 0 }) }, {});
      f.mount((err) => {
        if (err) { console.log('mount failed', err.message); process.exit(2); }
        console.log('mounted', require('fs').readFileSync('/proc/self/mounts', 'utf8').includes(process.argv[1]));
        f.close((err) => console.log('closed', err ? err.message : 'ok'));
      });`;
    const child = await run(process.execPath, ['-e', script, '--', b.mnt], {
      env: { PATH: '/nonexistent' },
      timeoutMs: 20_000,
    });
    assert.equal(child.code, 0, child.stderr);
    assert.equal(child.stdout, 'mounted true\nclosed ok\n');
    assert.deepEqual(fuseMountsUnder(b.base), []);
  });

  it('does not leak the /dev/fuse fd into child processes (they would keep a closed session alive)', async function () {
    const b = box();
    await mount(b, passthrough(b.backing).ops);
    const fds = await run('sh', ['-c', 'ls -l /proc/self/fd/']);
    assert.equal(fds.code, 0, fds.stderr);
    assert.doesNotMatch(fds.stdout, /\/dev\/fuse/);
  });

  it('Fuse.unmount(path) detaches a mount without fusermount', async function () {
    const b = box();
    const fuse = await mount(b, passthrough(b.backing).ops);
    await new Promise<void>((resolve, reject) =>
      Fuse.unmount(b.mnt, (e: Error | null) => (e ? reject(e) : resolve())),
    );
    assert.deepEqual(fuseMountsUnder(b.base), []);
    await close(fuse);
  });
});
