/**
 * The journal: an append-only record of every step of every injection, so that a daemon started after
 * a crash or a SIGKILL knows what is on and finishes its recovery.
 *
 * One JSON object a line, fsync'd before the step it records is taken (write-ahead): after a crash, the
 * journal never claims less than was done. A torn last line (the crash hit mid-write) is ignored.
 * Replaying folds the lines into the last known state of each injection; recovery steps are idempotent,
 * so redoing one that had already happened is harmless.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RuleInput } from '../api/fault-spec';
import type { Target } from '../api/control';
import type { NamespaceId } from './holders';

/** Steps in the order inject takes them; recovery walks back from the last one recorded. */
export const STEPS = [
  'begun',
  'worker',
  'attached',
  'swapped',
  'active',
  'recovering',
  /** Recovery ran and something was left (`left` says what): still open, a later recover retries. */
  'recover-incomplete',
  'recovered',
] as const;
export type Step = (typeof STEPS)[number];

export interface InjectionRecord {
  id: string;
  target: Target;
  volumePath: string;
  /**
   * A process of the target's mount namespace when last seen. It may exit while the namespace lives
   * on: every step picks a live process of `mountNs` again.
   */
  nsPid: number;
  /** The target's mount namespace: what the injection is attached to (absent in old journals). */
  mountNs?: NamespaceId;
  /** For a container target: its checked id. */
  containerId?: string;
  /** The target's processes at inject time (for status; every step finds them anew). */
  pids: number[];
  /** As the user gave them (validated). */
  rules: RuleInput[];
  startedAt: string;
  endsAt?: string;
  workerPid?: number;
  /** The worker's start time (/proc/PID/stat field 22): a reused pid is not signalled. */
  workerStart?: string;
  workerSocket: string;
  /** The ChaosFS mount's id in the target's namespace, and the mount it covers. */
  fuseMntId?: number;
  belowMntId?: number;
  /** The ChaosFS file system's device (`major:minor`), to find mappings of its files. */
  fuseDev?: string;
  /** The worker's path to the original volume (`/proc/<worker>/fd/<n>`), valid while it lives. */
  backingRoot?: string;
  staging: string;
  /** The target's mounts at and beneath volumePath (ids aside) before anything changed: what recovery restores. */
  mountsBefore: string[];
  step: Step;
  error?: string;
  /** After an incomplete recovery: exactly what is left (pid, fd, path; mounts). */
  left?: string[];
}

type Line = { id: string; step: Step; at: string } & Partial<InjectionRecord>;

export class Journal {
  private readonly file: string;
  private fd: number;

  constructor(stateDir: string) {
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    this.file = path.join(stateDir, 'journal.jsonl');
    this.fd = fs.openSync(this.file, 'a', 0o600);
  }

  /** Records a step (and any fields that changed with it) durably, before the step is taken. */
  record(id: string, step: Step, fields: Partial<InjectionRecord> = {}): void {
    const line: Line = { ...fields, id, step, at: new Date().toISOString() };
    fs.writeSync(this.fd, JSON.stringify(line) + '\n');
    fs.fsyncSync(this.fd);
  }

  /** Every injection's last known state, in the order they began. */
  replay(): InjectionRecord[] {
    const byId = new Map<string, InjectionRecord>();
    for (const text of fs.readFileSync(this.file, 'utf8').split('\n')) {
      if (text.trim() === '') continue;
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        continue; // a torn write from a crash
      }
      const { at: _at, ...fields } = line;
      byId.set(line.id, { ...(byId.get(line.id) ?? ({} as InjectionRecord)), ...fields });
    }
    return [...byId.values()];
  }

  /** Rewrites the journal with only the injections not yet recovered, so it does not grow forever. */
  compact(): void {
    const open = this.replay().filter((r) => r.step !== 'recovered');
    const tmp = this.file + '.tmp';
    // The journal names the app's processes and paths: 0600 like the file it replaces, whatever the umask.
    const fd = fs.openSync(tmp, 'w', 0o600);
    fs.fchmodSync(fd, 0o600);
    fs.writeSync(fd, open.map((r) => JSON.stringify({ ...r, at: new Date().toISOString() }) + '\n').join(''));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, this.file);
    fs.closeSync(this.fd);
    this.fd = fs.openSync(this.file, 'a', 0o600);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
