/**
 * A process's mount table, as recovery compares it: /proc/PID/mountinfo without the mount ids (which a
 * remount changes) and in order. Recovery is done when the table is what it was before the injection.
 */
import * as fs from 'node:fs';

export function mountTable(pid: number): string[] {
  return fs
    .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ').slice(2).join(' '));
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
