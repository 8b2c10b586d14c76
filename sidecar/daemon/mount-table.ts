/**
 * A process's mount table, as recovery compares it: /proc/PID/mountinfo without the mount ids (which a
 * remount changes) and in order, limited to the volume path and what is beneath it. Recovery is done
 * when that part is what it was before the injection; the rest of the table is not the injection's
 * (another injection of the same namespace may come and go meanwhile).
 */
import * as fs from 'node:fs';

export function mountTable(pid: number, under: string): string[] {
  return fs
    .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ').slice(2))
    .filter((f) => {
      const mountpoint = f[2].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      return mountpoint === under || mountpoint.startsWith(under + '/');
    })
    .map((f) => f.join(' '));
}

/** The lines that differ, for an error message; empty when the tables match. */
export function mountTableDiff(before: readonly string[], after: readonly string[]): string[] {
  const b = new Set(before);
  const a = new Set(after);
  return [
    ...before.filter((l) => !a.has(l)).map((l) => `- ${l}`),
    ...after.filter((l) => !b.has(l)).map((l) => `+ ${l}`),
  ];
}
