/**
 * ChaosFS's native path: every call is served in C, and only calls a rule must act on reach JS (the
 * binding decides op, glob and percent natively; plain delays are held natively too). Checked on a
 * real mount by the binding's per-op counters (calls served natively vs shown to JS), and against
 * the guarantees the JS path gave: rules apply at once, nothing beneath the root is followed out of
 * it, new files belong to their maker (a setgid directory's group kept).
 *
 * ChaosFS is mounted in this process (to read its counters), so every access to the mount runs in a
 * child process, asynchronously: the JS handlers need this process's loop and thread pool.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRules, type RuleInput } from '../../sidecar/api/fault-spec';
import { ChaosFs } from '../../sidecar/chaosfs/chaosfs';
import { opsOf } from '../../sidecar/chaosfs/native-rules';
import { requireRootAndFuse } from '../support/root';
import { forceUnmountUnder, isMounted } from '../support/mounts';
import { run } from '../fuse3/support';

type Counts = Record<string, number>;
const rules = (...input: RuleInput[]) => parseRules(input);

describe('ChaosFS native path', () => {
  let dir: string;
  let src: string;
  let mnt: string;
  let outside: string;
  let chaos: ChaosFs;
  const m = (...p: string[]) => path.join(mnt, ...p);
  const s = (...p: string[]) => path.join(src, ...p);

  function counts(): { native: Counts; js: Counts } {
    const st = chaos.stats();
    assert.ok(st, 'mounted');
    return { native: { ...st.nativeCalls }, js: { ...st.jsCalls } };
  }
  function delta(a: Counts, b: Counts): Counts {
    const d: Counts = {};
    for (const k of Object.keys(b)) if (b[k] !== a[k]) d[k] = b[k] - (a[k] ?? 0);
    return d;
  }
  /** Runs a Node script against the mount in a child; its stdout parsed as JSON. */
  async function child(script: string, ...args: string[]): Promise<Record<string, unknown>> {
    const r = await run(process.execPath, ['-e', script, '--', ...args]);
    assert.equal(r.code, 0, `child failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  /** A shell script run as uid 4321, gid 4322, no supplementary groups. */
  const asUser4321 = (script: string) =>
    run('setpriv', ['--reuid', '4321', '--regid', '4322', '--clear-groups', 'sh', '-c', script]);

  before(async () => {
    requireRootAndFuse();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaosfs-fast-'));
    src = path.join(dir, 'src');
    mnt = path.join(dir, 'mnt');
    outside = path.join(dir, 'outside');
    for (const d of [src, mnt, outside]) fs.mkdirSync(d);
    fs.writeFileSync(path.join(outside, 'secret'), 'OUTSIDE');
    chaos = await ChaosFs.mount({ source: src, mountpoint: mnt });
  });
  afterEach(() => chaos?.rules.clear());
  after(async () => {
    await chaos?.unmount().catch(() => undefined);
    if (dir) {
      forceUnmountUnder(dir);
      assert.equal(isMounted(mnt), false, 'no mount left behind');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('narrows each rule to the ops its kind acts on, within its methods', () => {
    const ops = (input: RuleInput) => opsOf(rules(input)[0]).sort();
    assert.deepEqual(ops({ action: 'fault', errno: 'EIO', methods: ['read', 'lookup'] }), ['lookup', 'read']);
    assert.deepEqual(
      ops({ action: 'mistake', mistake: { filling: 'zero', maxOccurrences: 1, maxLength: 1 } }),
      ['read', 'write'],
    );
    assert.deepEqual(ops({ action: 'attrOverride', attr: { size: 1 } }), ['getattr', 'lookup', 'setattr']);
    assert.deepEqual(ops({ action: 'attrOverride', attr: { size: 1 }, methods: ['read'] }), []);
    assert.deepEqual(ops({ action: 'diskFull', limit: '1MiB' }), [
      'create',
      'mkdir',
      'mknod',
      'setattr',
      'write',
    ]);
  });

  it('with no rule, serves every hot operation natively: the JS handlers are not called', async () => {
    const before = counts();
    const out = await child(
      `const fs = require('fs'), p = require('path'), m = process.argv[1];
       fs.mkdirSync(p.join(m, 'a/b'), { recursive: true });
       fs.writeFileSync(p.join(m, 'a/b/f'), 'hello world');
       const fd = fs.openSync(p.join(m, 'a/b/f'), 'r+');
       fs.writeSync(fd, 'HELLO', 0);
       fs.fsyncSync(fd);
       fs.fstatSync(fd);
       fs.ftruncateSync(fd, 20);
       fs.closeSync(fd);
       fs.symlinkSync('f', p.join(m, 'a/b/l'));
       fs.linkSync(p.join(m, 'a/b/f'), p.join(m, 'a/b/h'));
       fs.chmodSync(p.join(m, 'a/b/f'), 0o640);
       fs.chownSync(p.join(m, 'a/b/f'), 1, 2);
       // truncate(2) by name (Node's truncateSync opens the file and uses ftruncate).
       require('child_process').execFileSync('python3', ['-c', 'import os,sys; os.truncate(sys.argv[1], 5)', p.join(m, 'a/b/h')]);
       fs.utimesSync(p.join(m, 'a/b/f'), 1, 2);
       const x = (...a) => require('child_process').execFileSync(a[0], a.slice(1), { encoding: 'utf8', stdio: 'pipe' });
       x('setfattr', '-n', 'user.k', '-v', 'v', p.join(m, 'a/b/f'));
       const xattrs = x('getfattr', '-d', p.join(m, 'a/b/f'));
       x('setfattr', '-x', 'user.k', p.join(m, 'a/b/f'));
       const r = { data: fs.readFileSync(p.join(m, 'a/b/f'), 'utf8'), link: fs.readlinkSync(p.join(m, 'a/b/l')),
         names: fs.readdirSync(p.join(m, 'a/b')).sort(), bsize: fs.statfsSync(m).bsize, xattr: /user.k="v"/.test(xattrs) };
       fs.unlinkSync(p.join(m, 'a/b/h'));
       console.log(JSON.stringify(r));`,
      mnt,
    );
    assert.deepEqual(out, {
      data: 'HELLO',
      link: 'f',
      names: ['f', 'h', 'l'],
      bsize: fs.statfsSync(src).bsize,
      xattr: true,
    });
    assert.equal(fs.readFileSync(s('a/b/f'), 'utf8'), 'HELLO');
    const st = fs.lstatSync(s('a/b/f'));
    assert.deepEqual([st.mode & 0o777, st.uid, st.gid, st.mtimeMs], [0o640, 1, 2, 2000]);
    assert.equal(fs.existsSync(s('a/b/h')), false);

    const after = counts();
    const native = delta(before.native, after.native);
    const js = delta(before.js, after.js);
    for (const op of [
      'lookup',
      'mkdir',
      'create',
      'open',
      'write',
      'flush',
      'fsync',
      'release',
      'setattr',
      'symlink',
      'link',
      'readlink',
      'opendir',
      'readdir',
      'statfs',
      'unlink',
      'setxattr',
      'getxattr',
      'listxattr',
      'removexattr',
    ]) {
      assert.ok((native[op] ?? 0) > 0, `${op} served natively (native ${JSON.stringify(native)})`);
    }
    assert.deepEqual(js, {}, 'no call reached the JS handlers');
  });

  it('a rule on read sends reads to JS and faults them, while stats stay native; clearing it turns it back', async () => {
    fs.writeFileSync(s('r.txt'), 'readable');
    const readIt = `const fs = require('fs');
      let r; try { r = { data: fs.readFileSync(process.argv[1], 'utf8') } } catch (e) { r = { code: e.code } }
      fs.statSync(process.argv[1]);
      console.log(JSON.stringify(r));`;

    chaos.rules.upsert(rules({ id: 'r', action: 'fault', errno: 'EIO', methods: ['read'] }));
    await chaos.settled();
    let before = counts();
    assert.deepEqual(await child(readIt, m('r.txt')), { code: 'EIO' });
    let after = counts();
    assert.ok(delta(before.js, after.js).read > 0, 'reads went to JS');
    assert.equal(delta(before.native, after.native).read, undefined, 'no read was native');
    assert.ok(delta(before.native, after.native).open > 0, 'open stayed native');
    assert.equal(delta(before.js, after.js).getattr, undefined, 'stats stayed native');
    assert.equal(delta(before.js, after.js).lookup, undefined, 'lookups stayed native');

    chaos.rules.clear(['r']);
    await chaos.settled();
    before = counts();
    assert.deepEqual(await child(readIt, m('r.txt')), { data: 'readable' });
    after = counts();
    assert.equal(delta(before.js, after.js).read, undefined, 'reads are native again');
    assert.ok(delta(before.native, after.native).read > 0);
  });

  it('a rule on **/*.sst keeps other files native; a rule on every file sends their calls to JS', async () => {
    fs.writeFileSync(s('all.txt'), 'x');
    chaos.rules.replace(
      rules({ id: 'sst', action: 'fault', errno: 'EIO', path: '**/*.sst', methods: ['read'] }),
    );
    const readIt = `console.log(JSON.stringify({ data: require('fs').readFileSync(process.argv[1], 'utf8') }))`;
    let before = counts();
    assert.deepEqual(await child(readIt, m('all.txt')), { data: 'x' });
    let after = counts();
    assert.ok(delta(before.native, after.native).read > 0, 'the read of all.txt stayed native');
    assert.deepEqual(delta(before.js, after.js), {}, 'nothing reached JS');

    chaos.rules.replace(rules({ id: 'all', action: 'fault', errno: 'EACCES', path: 'nothing-matches' }));
    before = counts();
    await child(`require('fs').statSync(process.argv[1]); console.log('{}')`, m('all.txt'));
    after = counts();
    assert.deepEqual(delta(before.js, after.js), {}, 'a glob that matches nothing sends nothing to JS');

    chaos.rules.replace(rules({ id: 'every', action: 'fault', errno: 'EACCES', path: 'all.txt' }));
    await chaos.settled();
    before = counts();
    const stat = await child(
      `let r; try { require('fs').statSync(process.argv[1]); r = {} } catch (e) { r = { code: e.code } } console.log(JSON.stringify(r))`,
      m('all.txt'),
    );
    after = counts();
    assert.deepEqual(stat, { code: 'EACCES' });
    assert.ok(delta(before.js, after.js).lookup > 0, 'the lookup of all.txt went to JS');

    chaos.rules.replace(rules({ id: 'w', action: 'fault', errno: 'ENOSPC', methods: ['write'] }));
    await chaos.settled();
    before = counts();
    const out = await child(
      `const fs = require('fs'), f = process.argv[1];
       const data = fs.readFileSync(f, 'utf8');
       let code; try { fs.writeFileSync(f, 'y') } catch (e) { code = e.code }
       console.log(JSON.stringify({ data, code }));`,
      m('all.txt'),
    );
    after = counts();
    assert.deepEqual(out, { data: 'x', code: 'ENOSPC' });
    assert.equal(delta(before.js, after.js).lookup, undefined, 'lookups native again after replace');
    assert.ok(delta(before.js, after.js).write > 0, 'writes in JS');
  });

  it('never follows a symlink planted in the backing for a directory component (here to ../outside)', async () => {
    fs.mkdirSync(s('a/d'), { recursive: true });
    fs.writeFileSync(s('a/d/secret'), 'inside');
    fs.mkdirSync(path.join(outside, 'd'));
    fs.writeFileSync(path.join(outside, 'd/secret'), 'OUTSIDE');
    const before = counts();
    // The child holds a/d; the backing's `a` is then replaced by a symlink that leads out of the
    // volume to a tree of the same shape. A lookup beneath the held directory is made in the inode's
    // own O_PATH fd (the real a/d, renamed), never by walking "/a/d" again: following `a` would read
    // outside/d/secret.
    const out = await child(
      `const fs = require('fs');
       const [mntDir, srcDir] = process.argv.slice(1);
       const dfd = fs.openSync(mntDir + '/a/d', 'r');
       fs.renameSync(srcDir + '/a', srcDir + '/a.real');
       fs.symlinkSync('../outside', srcDir + '/a');
       let r; try { r = { data: fs.readFileSync('/proc/self/fd/' + dfd + '/secret', 'utf8') } } catch (e) { r = { code: e.code } }
       console.log(JSON.stringify(r));`,
      mnt,
      src,
    );
    const after = counts();
    assert.notEqual(out.data, 'OUTSIDE', 'read a file outside the volume');
    assert.deepEqual(out, { data: 'inside' }, 'the held directory is the real one, wherever it moved');
    assert.deepEqual(delta(before.js, after.js), {}, 'served natively');
  });

  it('gives files, directories, FIFOs and symlinks made natively by a non-root process to that process', async () => {
    fs.chmodSync(dir, 0o755); // mkdtemp's 0700 would keep uid 4321 from reaching the mount
    fs.mkdirSync(s('shared'), { mode: 0o777 });
    fs.chmodSync(s('shared'), 0o777);
    const before = counts();
    const script = ['touch shared/f', 'mkdir shared/d', 'mkfifo shared/p', 'ln -s f shared/l'].join(' && ');
    const r = await asUser4321(`cd ${mnt} && ${script}`);
    assert.equal(r.code, 0, r.stderr);
    for (const name of ['f', 'd', 'p', 'l']) {
      const st = fs.lstatSync(s('shared', name));
      assert.deepEqual([st.uid, st.gid], [4321, 4322], `${name} belongs to its creator`);
    }
    const native = delta(before.native, counts().native);
    for (const op of ['create', 'mkdir', 'mknod', 'symlink']) assert.ok(native[op] > 0, `${op} was native`);
  });

  it("a file made in a setgid directory gets the directory's group, as on the backing", async () => {
    fs.mkdirSync(s('sg'), { mode: 0o777 });
    fs.chownSync(s('sg'), 0, 4400);
    fs.chmodSync(s('sg'), 0o2777);
    const r = await asUser4321(`cd ${mnt}/sg && touch f && mkdir d`);
    assert.equal(r.code, 0, r.stderr);
    const f = fs.lstatSync(s('sg/f'));
    const d = fs.lstatSync(s('sg/d'));
    assert.deepEqual([f.uid, f.gid], [4321, 4400], 'the file keeps the group of the directory');
    assert.deepEqual([d.uid, d.gid, d.mode & 0o2000], [4321, 4400, 0o2000], 'a subdirectory inherits setgid');
  });
});
