/**
 * Mounting and ending a session: close() detaches every mount of the connection wherever it went,
 * without fusermount, and ends libfuse's loop even with files still open.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { unmount } from '../../native/fuse-native/index';
import { eachSandbox, fuseMountsUnder, mount, run, sh } from './support';

describe('fuse-native (libfuse3): mount and close', function () {
  const box = eachSandbox();

  it('serves the backing, and close() detaches it and ends the session', async function () {
    const b = box();
    const s = mount(b, { options: { fsname: 'iochaos-test', subtype: 'iochaos' } });
    assert.equal(fs.readFileSync(path.join(b.mnt, 'hello'), 'utf8'), 'hello world\n');
    const line = fs
      .readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .find((l) => l.split(' ')[1] === b.mnt);
    assert.ok(line, 'mounted');
    assert.deepEqual(line.split(' ').slice(0, 3), ['iochaos-test', b.mnt, 'fuse.iochaos']);
    await s.close();
    assert.deepEqual(fuseMountsUnder(b.base), []);
    assert.equal(s.stats(), null);
    await s.close(); // twice is fine
  });

  it('close(at) after mount --move detaches the mount where it went, and leaves the old path alone', async function () {
    const b = box();
    const s = mount(b);
    const moved = path.join(b.base, 'moved');
    fs.mkdirSync(moved);
    assert.equal(
      (await sh(`mount --make-private '${b.mnt}' 2>/dev/null; mount --move '${b.mnt}' '${moved}'`)).code,
      0,
    );
    assert.equal((await sh(`mount -t tmpfs iochaos-t '${b.mnt}'`)).code, 0);
    try {
      await s.close(moved);
      assert.deepEqual(fuseMountsUnder(b.base), []);
      assert.ok(fs.readFileSync('/proc/mounts', 'utf8').includes(`iochaos-t ${b.mnt} tmpfs`), 'tmpfs kept');
    } finally {
      await sh(`umount '${b.mnt}'`);
    }
  });

  it('close() finds a moved mount by its device even when nobody said where it went', async function () {
    const b = box();
    const s = mount(b);
    const moved = path.join(b.base, 'moved');
    fs.mkdirSync(moved);
    assert.equal((await sh(`mount --move '${b.mnt}' '${moved}'`)).code, 0);
    await s.close();
    assert.deepEqual(fuseMountsUnder(b.base), []);
  });

  it('close() ends the session when someone else detached the mount while a file on it stays open', async function () {
    const b = box();
    const s = mount(b);
    // A child holds a file open on the mount, then the mount is detached lazily under it.
    const holder = run('sh', ['-c', `exec 3<'${b.mnt}/hello'; sleep 3; cat <&3`]);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await sh(`umount -l '${b.mnt}'`)).code, 0);
    await s.close();
    const held = await holder;
    assert.notEqual(held.code, 0, 'the read on the ended session fails');
    assert.match(held.stderr, /Transport endpoint is not connected|Software caused connection abort/);
  });

  it('mounts and closes in a process that has no fusermount on PATH, which then exits by itself', async function () {
    const b = box();
    const mod = path.resolve(__dirname, '../../native/fuse-native/index.js');
    const script = `
      const { FuseSession } = require(${JSON.stringify(mod)});
      const fs = require('fs');
      const s = FuseSession.mount({ rootFd: fs.openSync(${JSON.stringify(b.backing)}, 'r'), mountpoint: ${JSON.stringify(b.mnt)} });
      console.log(fs.readFileSync(${JSON.stringify(b.mnt + '/hello')}, 'utf8').trim());
      s.close().then(() => console.log('closed'));`;
    const r = await run('env', ['PATH=/nonexistent', process.execPath, '-e', script], 30_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello world\nclosed\n');
    assert.deepEqual(fuseMountsUnder(b.base), []);
  });

  it('does not leak the /dev/fuse fd into child processes', async function () {
    const b = box();
    mount(b);
    const r = await sh('ls -l /proc/self/fd/ | grep -c /dev/fuse || true');
    assert.equal(r.stdout.trim(), '0');
  });

  it('unmount(path) detaches a mount without fusermount', async function () {
    const b = box();
    mount(b);
    unmount(b.mnt);
    assert.deepEqual(fuseMountsUnder(b.base), []);
    assert.throws(() => unmount(b.mnt), /errno 22/);
  });

  it('refuses a root that is not a directory, and options libfuse does not know, mounting nothing', function () {
    const b = box();
    const file = fs.openSync(path.join(b.backing, 'hello'), 'r');
    try {
      assert.throws(() => mount(b, { rootFd: file }), /rootFd \d+ is not an open directory/);
    } finally {
      fs.closeSync(file);
    }
    assert.throws(
      () => mount(b, { options: { extraOptions: ['no_such_option'] } }),
      /libfuse refused the options/,
    );
    assert.throws(
      () => mount(b, { options: { extraOptions: ['auto_unmount'] } }),
      /auto_unmount needs fusermount3/,
    );
    assert.throws(() => mount(b, { jsOps: ['bmap' as never] }), /unknown FUSE op "bmap"/);
    assert.deepEqual(fuseMountsUnder(b.base), []);
  });
});
