/**
 * Mocha root hooks (loaded by .mocharc.json's `require`): every temp dir of this run is made under one
 * directory of its own, and at the end that directory must be empty and nothing may be mounted under
 * it. Other runs on the same machine (other checkouts, benchmarks) use their own, so the check sees
 * only what this run made.
 *
 * os.tmpdir() reads TMPDIR on every call, and child processes inherit it, so setting it here, before
 * any spec file is loaded, moves every mkdtemp(os.tmpdir()) of the suite and of what it starts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mounts } from '../../sidecar/daemon/mount-table';

const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-run-'));
// Like /tmp: tests hand directories to other uids (a caller of uid 1000 on a mount), who must get through.
fs.chmodSync(runDir, 0o1777);
process.env.TMPDIR = runDir;

/** What this run left in its temp dir, and what it left mounted there. */
function leftovers(dir = runDir): { files: string[]; mounts: string[] } {
  return {
    files: fs.readdirSync(dir),
    mounts: mounts('self')
      .map((m) => `${m.mountpoint} (${m.fstype})`)
      .filter((m) => m.startsWith(dir + '/')),
  };
}

export const mochaHooks = {
  afterAll(): void {
    const left = leftovers();
    if (left.files.length === 0 && left.mounts.length === 0) {
      fs.rmdirSync(runDir);
      return;
    }
    const report =
      `the tests left behind, under ${runDir} (this run's TMPDIR):\n` +
      [...left.mounts.map((m) => `mounted: ${m}`), ...left.files.map((f) => `file: ${f}`)].join('\n');
    throw new Error(report);
  },
};
