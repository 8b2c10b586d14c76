/**
 * Defect 8: no per-op timeout by default (a 20 s delay rule must just work), and with a configured
 * timeout a late answer is ignored safely: the handler may still write into its buffer and call back.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requireRootAndFuse } from '../support/root';
import { cleanup, mount, node, passthrough, run, sandbox, sleep, type Sandbox } from './support';

describe('fuse-native: timeouts (defect 8)', function () {
  let box: Sandbox | undefined;

  before(requireRootAndFuse);
  beforeEach(function () {
    box = sandbox();
    fs.writeFileSync(path.join(box.backing, 'slow'), 'worth the wait\n');
    fs.writeFileSync(path.join(box.backing, 'fast'), 'right away\n');
  });
  afterEach(async function () {
    await cleanup(box);
    box = undefined;
  });

  it('a read that the handler answers after 20 s returns the right data', async function () {
    this.timeout(90_000);
    const b = box!;
    const { ops } = passthrough(b.backing, {
      // Only the first read waits: the one at EOF that cat makes next need not take another 20 s.
      read: (_p, fd, buf, len, pos, cb) =>
        setTimeout(() => fs.read(fd, buf, 0, len, pos, (e, n) => cb(e ? -5 : n)), pos === 0 ? 20_000 : 0),
    });
    await mount(b, ops, { directIo: true });
    const started = Date.now();
    const cat = await run('cat', [path.join(b.mnt, 'slow')], { timeoutMs: 80_000 });
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, 'worth the wait\n');
    assert.ok(Date.now() - started >= 20_000);
  });

  it('with a configured timeout, a late answer after the timeout is ignored and nothing crashes', async function () {
    const b = box!;
    const lateErrors: unknown[] = [];
    let lateAnswered = false;
    const { ops } = passthrough(b.backing, {
      read: (p, fd, buf, len, pos, cb) => {
        if (p !== '/slow') return fs.read(fd, buf, 0, len, pos, (e, n) => cb(e ? -5 : n));
        setTimeout(() => {
          try {
            buf.fill(0x7a, 0, len); // the handler does not know it was too late
            cb(len);
            cb(len);
            lateAnswered = true;
          } catch (err) {
            lateErrors.push(err);
          }
        }, 800);
      },
    });
    await mount(b, ops, { directIo: true, timeout: { read: 200 } });
    const slow = await node(
      `try { require('fs').readFileSync(process.argv[1]); console.log('read') } catch (e) { console.log(e.code) }`,
      [path.join(b.mnt, 'slow')],
    );
    assert.equal(slow.stdout, 'ETIMEDOUT\n', slow.stderr);
    await sleep(1000);
    assert.equal(lateAnswered, true);
    assert.deepEqual(lateErrors, []);
    // Still serving, with correct data, after the late answer.
    assert.equal((await run('cat', [path.join(b.mnt, 'fast')])).stdout, 'right away\n');
  });
});
