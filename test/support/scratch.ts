/**
 * Scratch directories for suites that hand a directory to something else (a kubeconfig to kubectl, a
 * volume to a child's mount namespace) and cannot easily say when it is done with it: each one is made
 * under this run's TMPDIR and removed by the suite's own `after` hook, so the run-dir check at the end
 * of the run (test/support/run-dir.ts) still catches anything a test leaves elsewhere.
 *
 * Call it inside a `describe`, so the `after` belongs to that suite.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function useScratch(prefix: string): () => string {
  const made: string[] = [];
  after(() => {
    for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
}
