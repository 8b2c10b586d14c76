/**
 * Defect 2: every libfuse worker thread that exits hands its bridge (a uv_async and a buffer) back to
 * the loop thread, so bursts of readers no longer pile up handles. And the multi-threaded loop stays:
 * handlers delayed with setTimeout overlap instead of queueing.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requireRootAndFuse } from '../support/root';
import { cleanup, mount, node, passthrough, sandbox, waitFor, type Sandbox } from './support';

const FILES = 64;

const concurrentReads = `
  const fs = require('fs');
  const files = process.argv.slice(1);
  Promise.all(files.map((f) => fs.promises.readFile(f, 'utf8'))).then((all) => {
    console.log(all.every((c, i) => c === 'file ' + i + '\\n') ? 'ok' : 'mismatch');
  }, (e) => { console.log(e.code); process.exit(1); });`;

describe('fuse-native: worker threads (defect 2)', function () {
  let box: Sandbox | undefined;

  before(requireRootAndFuse);
  beforeEach(function () {
    box = sandbox();
    for (let i = 0; i < FILES; i++) fs.writeFileSync(path.join(box.backing, `f${i}`), `file ${i}\n`);
  });
  afterEach(async function () {
    await cleanup(box);
    box = undefined;
  });

  it('keeps live per-thread bridges bounded over 20 bursts of 64 concurrent readers', async function () {
    this.timeout(180_000);
    const b = box!;
    const { ops } = passthrough(b.backing, {
      // A short delay keeps requests in flight together, so libfuse starts (and later retires) threads.
      read: (_p, fd, buf, len, pos, cb) =>
        setTimeout(() => fs.read(fd, buf, 0, len, pos, (e, n) => cb(e ? -5 : n)), 5),
    });
    const fuse = await mount(b, ops, { directIo: true, attrTimeout: 0, entryTimeout: 0 });
    const files = Array.from({ length: FILES }, (_, i) => path.join(b.mnt, `f${i}`));
    const peaks: number[] = [];
    for (let burst = 0; burst < 20; burst++) {
      const child = await node(concurrentReads, files, FILES);
      assert.equal(child.stdout, 'ok\n', child.stderr);
      peaks.push(fuse.stats()!.liveThreadLocals);
      // libfuse keeps at most 10 idle workers; the others exit and their bridges come back.
      const settled = await waitFor(() => fuse.stats()!.liveThreadLocals <= 16, 10_000);
      assert.ok(settled, `burst ${burst}: ${JSON.stringify(fuse.stats())}`);
    }
    const s = fuse.stats()!;
    assert.ok(Math.max(...peaks) <= 2 * FILES + 16, `peaks ${peaks}`);
    assert.ok(
      s.createdThreadLocals > 200,
      `threads did not churn, so nothing was tested: ${JSON.stringify(s)}`,
    );
    assert.equal(s.reapedThreadLocals, s.createdThreadLocals - s.liveThreadLocals);
  });

  it('runs 16 reads delayed 10 ms each by a setTimeout in the handler at the same time', async function () {
    const b = box!;
    let inFlight = 0;
    let maxInFlight = 0;
    const held: (() => void)[] = [];
    const releaseAll = () => held.splice(0).forEach((go) => setTimeout(go, 10));
    // Each read waits until all 16 are in flight (or 5 s pass, when they were queued one by one),
    // then answers after its 10 ms setTimeout: scheduling jitter cannot fake or hide the overlap.
    const fallback = setTimeout(releaseAll, 5_000);
    const { ops } = passthrough(b.backing, {
      read: (_p, fd, buf, len, pos, cb) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        held.push(() => {
          inFlight--;
          fs.read(fd, buf, 0, len, pos, (e, n) => cb(e ? -5 : n));
        });
        if (inFlight === 16) releaseAll();
      },
    });
    await mount(b, ops, { directIo: true });
    const files = Array.from({ length: 16 }, (_, i) => path.join(b.mnt, `f${i}`));
    // Open everything first, then start the 16 reads together.
    const child = await node(
      `const fs = require('fs'); const fds = process.argv.slice(1).map((f) => fs.openSync(f, 'r'));
       Promise.all(fds.map((fd) => new Promise((res, rej) => fs.read(fd, Buffer.alloc(64), 0, 64, 0, (e, n, b) => e ? rej(e) : res(b.toString('utf8', 0, n))))))
         .then((all) => console.log(all.every((c, i) => c === 'file ' + i + '\\n') ? 'ok' : 'mismatch'));`,
      files,
      16,
    );
    assert.equal(child.stdout, 'ok\n', child.stderr);
    clearTimeout(fallback);
    assert.equal(maxInFlight, 16);
  });
});
