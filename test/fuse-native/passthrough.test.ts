/**
 * fuse.passthrough({ rootFd, js }): the worker thread serves ops beneath rootFd itself. Which ops,
 * switching while files are open (the file handle is the backing fd on both sides), and the
 * beneath-root rules, with long attribute/entry caches so that the kernel sends the file system paths
 * whose backing changed under it (a planted symlink reaches the native code, not a kernel check).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requireRootAndFuse } from '../support/root';
import { cleanup, mount, node, passthrough, sandbox, type Fuse, type Sandbox } from './support';

const O_PATH = 0o10000000;

describe('fuse-native passthrough (native fast path)', () => {
  let box: Sandbox | undefined;
  let rootFd = -1;

  beforeEach(() => {
    requireRootAndFuse();
    box = sandbox();
    rootFd = fs.openSync(box.backing, O_PATH | fs.constants.O_DIRECTORY);
  });
  afterEach(async () => {
    await cleanup(box);
    if (rootFd >= 0) fs.closeSync(rootFd);
    rootFd = -1;
    box = undefined;
  });

  async function childJson(script: string, ...args: string[]): Promise<Record<string, unknown>> {
    const r = await node(script, args);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  it('serves every op it can natively except those named in js; null hands everything back to JS', async () => {
    fs.writeFileSync(path.join(box!.backing, 'f'), 'data');
    const p = passthrough(box!.backing);
    const fuse = await mount(box!, p.ops, { attrTimeout: 0, entryTimeout: 0, directIo: true });
    const catF = `console.log(JSON.stringify({ d: require('fs').readFileSync(process.argv[1], 'utf8') }))`;
    const f = path.join(box!.mnt, 'f');

    const native = fuse.passthrough({ rootFd, js: ['getattr'] });
    for (const op of ['open', 'read', 'write', 'release', 'fgetattr', 'readdir', 'create', 'statfs']) {
      assert.ok(native.includes(op as never), `${op} is native`);
    }
    // getattr named in js; rename and rmdir never native; getxattr has no handler here.
    for (const op of ['getattr', 'rename', 'rmdir', 'init', 'getxattr']) {
      assert.ok(!native.includes(op as never), `${op} is not native`);
    }
    let before = { ...p.calls };
    assert.deepEqual(await childJson(catF, f), { d: 'data' });
    assert.ok(p.calls.getattr > (before.getattr ?? 0), 'getattr reached its JS handler');
    assert.equal(p.calls.read, before.read, 'read did not');
    assert.equal(p.calls.open, before.open, 'open did not');
    const st = fuse.stats()!;
    assert.ok(st.nativeCalls.read > 0 && st.nativeCalls.open > 0 && st.jsCalls.getattr > 0);
    assert.equal(st.jsCalls.read, 0);

    assert.deepEqual(fuse.passthrough(null), []);
    before = { ...p.calls };
    assert.deepEqual(await childJson(catF, f), { d: 'data' });
    assert.ok(p.calls.read > (before.read ?? 0), 'read is back with JS');
    assert.ok(p.calls.open > (before.open ?? 0));
  });

  it('refuses an unknown op name and a root that is not a directory', async () => {
    const fuse = await mount(box!, passthrough(box!.backing).ops);
    assert.throws(() => fuse.passthrough({ rootFd, js: ['reed' as never] }), /unknown operation "reed"/);
    const file = path.join(box!.base, 'plain');
    fs.writeFileSync(file, '');
    const fd = fs.openSync(file, 'r');
    try {
      assert.throws(() => fuse.passthrough({ rootFd: fd }), /open directory fd/);
    } finally {
      fs.closeSync(fd);
    }
    assert.throws(() => fuse.passthrough({ rootFd: -1 }), TypeError);
  });

  it('shares file handles: an fd opened by JS is read and released natively, and the other way round', async () => {
    fs.writeFileSync(path.join(box!.backing, 'f'), 'shared');
    const p = passthrough(box!.backing);
    const fuse = await mount(box!, p.ops, { attrTimeout: 0, entryTimeout: 0, directIo: true });
    // The child opens, waits for a line on stdin, then reads and closes the same fd.
    const holdAndRead = (file: string, between: () => void) =>
      new Promise<string>((resolve, reject) => {
        const c = spawn(
          process.execPath,
          [
            '-e',
            `const fs = require('fs'); const fd = fs.openSync(process.argv[1], 'r'); console.log('open');
             process.stdin.once('data', () => { const b = Buffer.alloc(64); const n = fs.readSync(fd, b, 0, 64, 0);
               fs.closeSync(fd); console.log(b.subarray(0, n).toString()); process.exit(0) });`,
            file,
          ],
          { stdio: ['pipe', 'pipe', 'inherit'] },
        );
        let out = '';
        c.stdout.on('data', (d: Buffer) => {
          out += d;
          if (out === 'open\n') {
            between();
            c.stdin.write('go\n');
          }
        });
        c.on('error', reject);
        c.on('exit', () => resolve(out.split('\n')[1]));
      });
    const f = path.join(box!.mnt, 'f');

    // Opened by JS, read and released natively.
    let before = { ...p.calls };
    assert.equal(await holdAndRead(f, () => fuse.passthrough({ rootFd })), 'shared');
    assert.equal(p.calls.open, (before.open ?? 0) + 1, 'opened by the JS handler');
    assert.equal(p.calls.read, before.read, 'read natively');
    assert.equal(p.calls.release, before.release, 'released natively');

    // Opened natively, read and released by JS.
    before = { ...p.calls };
    assert.equal(await holdAndRead(f, () => fuse.passthrough(null)), 'shared');
    assert.equal(p.calls.open, before.open, 'opened natively');
    assert.equal(p.calls.read, (before.read ?? 0) + 1, 'read by the JS handler');
    assert.equal(p.calls.release, (before.release ?? 0) + 1, 'released by the JS handler');
    // No backing fd left open in this process for the file (both closes really closed).
    const open = fs
      .readdirSync('/proc/self/fd')
      .map((n) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${n}`, { encoding: 'utf8' });
        } catch {
          return ''; // the fd readdirSync itself used
        }
      })
      .filter((t) => t === path.join(box!.backing, 'f'));
    assert.deepEqual(open, []);
  });

  describe('beneath the root, with caches the kernel does not revalidate', () => {
    let fuse: Fuse;
    let outside: string;
    beforeEach(async () => {
      outside = path.join(box!.base, 'outside');
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(outside, 'secret'), 'OUTSIDE');
      // Long caches and no default_permissions: the kernel trusts what it saw and sends the op with
      // the old path, so only the file system stands between the path and the planted symlink.
      const ops = passthrough(box!.backing, {
        readlink: (p, cb) => fs.readlink(path.join(box!.backing, p), (err, l) => cb(err ? -5 : 0, l)),
      }).ops;
      fuse = await mount(box!, ops, { attrTimeout: 100, entryTimeout: 100 });
      fuse.passthrough({ rootFd });
    });

    it('does not follow a directory component replaced by a symlink (to ../outside): ENOTDIR', async () => {
      fs.mkdirSync(path.join(box!.backing, 'd'));
      const before = fuse.stats()!;
      const out = await childJson(
        `const fs = require('fs'); const [mnt, backing] = process.argv.slice(1);
         const dfd = fs.openSync(mnt + '/d', 'r');
         fs.renameSync(backing + '/d', backing + '/d.real');
         fs.symlinkSync('../outside', backing + '/d');
         let r; try { r = { data: fs.readFileSync('/proc/self/fd/' + dfd + '/secret', 'utf8') } } catch (e) { r = { code: e.code } }
         console.log(JSON.stringify(r));`,
        box!.mnt,
        box!.backing,
      );
      assert.deepEqual(out, { code: 'ENOTDIR' });
      const after = fuse.stats()!;
      assert.ok(after.nativeCalls.getattr > before.nativeCalls.getattr, 'the lookup was native');
      assert.equal(after.jsCalls.getattr, before.jsCalls.getattr);
    });

    it('opens the last component with O_NOFOLLOW: a file replaced by a symlink fails with ELOOP', async () => {
      fs.writeFileSync(path.join(box!.backing, 'f'), 'inside');
      const before = fuse.stats()!;
      const out = await childJson(
        `const fs = require('fs'); const [mnt, backing, secret] = process.argv.slice(1);
         const pfd = fs.openSync(mnt + '/f', ${O_PATH});
         fs.renameSync(backing + '/f', backing + '/f.real');
         fs.symlinkSync(secret, backing + '/f');
         let r; try { r = { data: fs.readFileSync('/proc/self/fd/' + pfd, 'utf8') } } catch (e) { r = { code: e.code } }
         console.log(JSON.stringify(r));`,
        box!.mnt,
        box!.backing,
        path.join(outside, 'secret'),
      );
      assert.deepEqual(out, { code: 'ELOOP' });
      const after = fuse.stats()!;
      assert.ok(after.nativeCalls.open > before.nativeCalls.open, 'the open was native');
    });

    it('stats, reads links and lists only beneath the root', async () => {
      fs.mkdirSync(path.join(box!.backing, 'e'));
      fs.symlinkSync('../outside', path.join(box!.backing, 'up'));
      const out = await childJson(
        `const fs = require('fs'); const [mnt, backing] = process.argv.slice(1);
         const efd = fs.openSync(mnt + '/e', 'r');
         fs.rmdirSync(backing + '/e');
         fs.symlinkSync('../outside', backing + '/e');
         const r = { link: fs.readlinkSync(mnt + '/up') };
         try { r.list = fs.readdirSync('/proc/self/fd/' + efd) } catch (e) { r.list = e.code }
         try { r.stat = fs.statSync('/proc/self/fd/' + efd + '/secret').size } catch (e) { r.stat = e.code }
         console.log(JSON.stringify(r));`,
        box!.mnt,
        box!.backing,
      );
      // The link itself is read (the kernel follows it on the app's side, not ours); the directory
      // that became a symlink is neither listed nor looked into.
      assert.deepEqual(out, { link: '../outside', list: 'ENOTDIR', stat: 'ENOTDIR' });
    });
  });
});
