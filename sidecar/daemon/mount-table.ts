/**
 * Reading /proc/PID/mountinfo, once for the whole daemon: mount points come back decoded (the kernel
 * writes a space as \040, a newline as \012), so paths with such characters are found like any other.
 *
 * Recovery compares a process's mount table without the mount ids (which a remount changes) and in
 * order, limited to the volume path and what is beneath it. Recovery is done when that part is what it
 * was before the injection; the rest of the table is not the injection's (another injection of the
 * same namespace may come and go meanwhile).
 */
import * as fs from 'node:fs';

export interface MountEntry {
  id: number;
  /** Decoded. */
  mountpoint: string;
  fstype: string;
  /** The file system's device, `major:minor` (decimal). */
  dev: string;
  /** The line without the mount id and parent id, as recovery compares it. */
  withoutIds: string;
}

const decode = (s: string) =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function mounts(pid: number | 'self' = 'self'): MountEntry[] {
  return fs
    .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(' ');
      return {
        id: Number(fields[0]),
        mountpoint: decode(fields[4]),
        fstype: fields[fields.indexOf('-') + 1],
        dev: fields[2],
        withoutIds: fields.slice(2).join(' '),
      };
    });
}

export function mountTable(pid: number, under: string): string[] {
  return mounts(pid)
    .filter((m) => m.mountpoint === under || m.mountpoint.startsWith(under + '/'))
    .map((m) => m.withoutIds);
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
