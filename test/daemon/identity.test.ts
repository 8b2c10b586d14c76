/**
 * Identities the daemon acts on (issue 10, items 6 and 8): a container id is a whole cgroup path
 * component of 64 hex digits, not a substring; a journaled worker pid is only a worker while its start
 * time matches; the compacted journal stays 0600 whatever the umask.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Journal } from '../../sidecar/daemon/journal';
import { resolveTarget } from '../../sidecar/daemon/targets';
import { isWorker, startTimeOf } from '../../sidecar/daemon/worker';
import { containerCgroup } from '../plugin/support';
import { requireRootAndFuse } from '../support/root';

describe('daemon identities: containers, workers, the journal file', () => {
  it('refuses a container id that is not 64 hex digits ("0" used to match every process)', () => {
    for (const id of ['0', 'abc', `containerd://${'a'.repeat(63)}`]) {
      assert.throws(() => resolveTarget({ containerId: id }, new Set()), /not a full container id/);
    }
  });

  it('matches a container id only as a whole cgroup path component', async () => {
    requireRootAndFuse();
    const cg = containerCgroup();
    const inside = spawn('sleep', ['30']);
    try {
      cg.add(inside.pid!);
      const r = resolveTarget({ containerId: `containerd://${cg.id}` }, new Set());
      assert.equal(r.nsPid, inside.pid);
      // The same digits inside a longer name are another container.
      const longer = `${cg.id.slice(1)}0`;
      assert.throws(() => resolveTarget({ containerId: longer }, new Set()), /no process of container/);
    } finally {
      inside.kill('SIGKILL');
      await new Promise((resolve) => inside.once('exit', resolve));
      cg.remove();
    }
  });

  it('a journaled worker pid is not that worker once its start time differs (pid reuse)', async () => {
    const child = spawn('sleep', ['30']);
    const start = startTimeOf(child.pid!)!;
    const socket = '/nonexistent.sock';
    assert.equal(isWorker({ pid: child.pid!, start, socket }), true);
    assert.equal(isWorker({ pid: child.pid!, start: String(Number(start) + 1), socket }), false);
    assert.equal(
      isWorker({ pid: child.pid!, socket }),
      false,
      'without a start time, the command line must name the socket',
    );
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(isWorker({ pid: child.pid!, start, socket }), false);
  });

  it('keeps the journal 0600 through compaction, whatever the umask', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-journal-'));
    const old = process.umask(0o022);
    try {
      const j = new Journal(dir);
      j.record('inj-1', 'recovered');
      j.compact();
      j.close();
      assert.equal(fs.statSync(path.join(dir, 'journal.jsonl')).mode & 0o777, 0o600);
    } finally {
      process.umask(old);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
