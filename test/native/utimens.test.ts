import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { utimensat } from '../../sidecar/kernel/utimens';
import { requireRootAndFuse } from '../support/root';
import { tempDir } from './support';

describe('native: utimensat addon', () => {
  let dir: string;
  before(() => {
    requireRootAndFuse();
    dir = tempDir('utimens');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('sets nanosecond times, leaves an omitted one, and sets now', () => {
    const f = path.join(dir, 'f');
    fs.writeFileSync(f, '');
    const mtimeBefore = fs.statSync(f, { bigint: true }).mtimeNs;
    utimensat(f, 1500000000123456789n, 'omit');
    let st = fs.statSync(f, { bigint: true });
    assert.equal(st.atimeNs, 1500000000123456789n);
    assert.equal(st.mtimeNs, mtimeBefore);
    utimensat(f, 'omit', -1500000000n); // before 1970: 1968-12-14T...; tv_nsec must stay >= 0
    st = fs.statSync(f, { bigint: true });
    assert.equal(st.mtimeNs, -1500000000n);
    utimensat(f, 'now', 'omit');
    assert.ok(fs.statSync(f, { bigint: true }).atimeNs > 1500000000123456789n);
  });

  it('changes a symlink itself with noFollow, and throws Node-style errors', () => {
    const l = path.join(dir, 'link');
    fs.symlinkSync('/nonexistent-target', l);
    utimensat(l, 7n, 9n, { noFollow: true });
    assert.equal(fs.lstatSync(l, { bigint: true }).mtimeNs, 9n);
    assert.throws(
      () => utimensat(l, 1n, 1n),
      (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.errno === -2 && e.syscall === 'utimensat' && e.path === l,
    );
    assert.throws(() => utimensat(l, 1 as unknown as bigint, 1n), /bigint/);
  });
});
