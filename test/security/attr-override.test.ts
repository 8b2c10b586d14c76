/**
 * Issue 10, item 2: an attrOverride rule changes what `stat` reports and nothing else. The mount
 * uses default_permissions, so the kernel checks the app against the overridden attributes; ChaosFS
 * must check again against the real ones before the privileged worker acts. Each attack runs as
 * uid 1000 (setpriv) and must leave the backing file as it was.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RuleInput } from '../../sidecar/api/fault-spec';
import { requireRootAndFuse } from '../support/root';
import { startChaosFs, type ChaosFsProcess } from '../support/chaosfs-process';

/** Runs a command as uid/gid 1000 with no supplementary groups. */
function asUser(cmd: string, ...args: string[]) {
  const r = spawnSync('setpriv', ['--reuid', '1000', '--regid', '1000', '--clear-groups', cmd, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('security: attrOverride does not change what the app may do (issue 10, item 2)', () => {
  let c: ChaosFsProcess;
  const src = (...p: string[]) => path.join(c.src, ...p);
  const mnt = (...p: string[]) => path.join(c.mnt, ...p);
  const set = async (rules: RuleInput[]) => {
    const reply = await c.setRules(rules, true);
    assert.ok(reply.ok, JSON.stringify(reply));
  };
  const backingOf = (file: string) => {
    const st = fs.statSync(src(file));
    return { mode: (st.mode & 0o7777).toString(8), uid: st.uid, data: fs.readFileSync(src(file), 'utf8') };
  };

  before(async () => {
    requireRootAndFuse();
    c = await startChaosFs();
    fs.chmodSync(c.dir, 0o755); // uid 1000 must reach the mount point
    fs.mkdirSync(src('d'), { mode: 0o755 });
    fs.writeFileSync(src('d/x.bin'), 'root only', { mode: 0o700 });
    fs.writeFileSync(src('secret'), 'root secret', { mode: 0o600 });
    fs.mkdirSync(src('shared'), { mode: 0o777 });
    fs.chmodSync(src('shared'), 0o777);
    fs.writeFileSync(src('public'), 'public', { mode: 0o644 });
  });
  afterEach(async () => c && (await c.clearRules()));
  after(async () => c?.cleanup());

  for (const methods of [undefined, ['getattr', 'lookup']] as const) {
    const how = methods ? ' (rule on getattr only: the other calls must not be served natively)' : '';

    it(`uid override: uid 1000 cannot replace a root 0700 file nor chmod it 4755${how}`, async () => {
      await set([
        { action: 'attrOverride', attr: { uid: 1000 }, path: 'd/*.bin', methods: methods && [...methods] },
      ]);
      assert.equal(
        asUser('stat', '-c', '%u', mnt('d/x.bin')).stdout.trim(),
        '1000',
        'the override is reported',
      );
      const before = backingOf('d/x.bin');
      const cp = asUser('cp', '/usr/bin/id', mnt('d/x.bin'));
      assert.notEqual(cp.status, 0);
      assert.match(cp.stderr, /Permission denied/);
      const chmod = asUser('chmod', '4755', mnt('d/x.bin'));
      assert.notEqual(chmod.status, 0);
      assert.match(chmod.stderr, /Operation not permitted/);
      const chown = asUser('chown', '1000', mnt('d/x.bin'));
      assert.notEqual(chown.status, 0);
      const touch = asUser('touch', '-d', '2001-01-01', mnt('d/x.bin'));
      assert.match(touch.stderr, /Operation not permitted|Permission denied/);
      assert.deepEqual(backingOf('d/x.bin'), before, 'the backing file is unchanged');
    });

    it(`perm 0666 override: uid 1000 can neither read nor overwrite a root 0600 file${how}`, async () => {
      await set([
        { action: 'attrOverride', attr: { perm: 0o666 }, path: '**', methods: methods && [...methods] },
      ]);
      assert.equal(
        asUser('stat', '-c', '%a', mnt('secret')).stdout.trim(),
        '666',
        'the override is reported',
      );
      const before = backingOf('secret');
      const cat = asUser('cat', mnt('secret'));
      assert.notEqual(cat.status, 0);
      assert.match(cat.stderr, /Permission denied/);
      assert.doesNotMatch(cat.stdout, /root secret/);
      const write = asUser('sh', '-c', `echo pwned > ${mnt('secret')}`);
      assert.match(write.stderr, /Permission denied/);
      const rm = asUser('rm', '-f', mnt('secret'));
      assert.match(rm.stderr, /Permission denied/);
      assert.deepEqual(backingOf('secret'), before, 'the backing file is unchanged');
    });
  }

  it('a directory reported 0777 does not let uid 1000 into a root 0700 directory', async () => {
    fs.mkdirSync(src('private'), { mode: 0o700 });
    fs.writeFileSync(src('private/f'), 'inside', { mode: 0o644 });
    await set([{ action: 'attrOverride', attr: { perm: 0o777 }, path: 'private' }]);
    const cat = asUser('cat', mnt('private/f'));
    assert.match(cat.stderr, /Permission denied/);
    const ls = asUser('ls', mnt('private'));
    assert.match(ls.stderr, /Permission denied/);
    const create = asUser('touch', mnt('private/new'));
    assert.match(create.stderr, /Permission denied/);
    assert.equal(fs.existsSync(src('private/new')), false);
  });

  it('what uid 1000 really may do still works under an override, and root is not held back', async () => {
    // The kernel lets everything through on 0777; what happens is what the real attributes allow.
    await set([{ action: 'attrOverride', attr: { perm: 0o777 }, path: '**' }]);
    assert.equal(asUser('cat', mnt('public')).stdout, 'public');
    const make = asUser('sh', '-c', `echo mine > ${mnt('shared/mine')} && chmod 600 ${mnt('shared/mine')}`);
    assert.equal(make.status, 0, make.stderr);
    assert.equal(fs.statSync(src('shared/mine')).uid, 1000);
    assert.equal(asUser('cat', mnt('shared/mine')).stdout, 'mine\n');
    assert.equal(asUser('rm', mnt('shared/mine')).status, 0);
    assert.equal(fs.readFileSync(mnt('secret'), 'utf8').length > 0, true);
  });
});
