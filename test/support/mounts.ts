/** Reading the mount table, and making sure a test leaves no mount behind. */
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';

export interface MountEntry {
  mountpoint: string;
  fstype: string;
  source: string;
}

/** /proc/PID/mountinfo, parsed: octal escapes (\040 for a space, \012 for a newline) decoded. */
export function mounts(pid: number | 'self' = 'self'): MountEntry[] {
  const unescape = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return fs
    .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [left, right] = line.split(' - ');
      const fields = left.split(' ');
      const [fstype, source] = right.split(' ');
      return { mountpoint: unescape(fields[4]), fstype, source: unescape(source) };
    });
}

export function isMounted(dir: string, fstype?: string): boolean {
  return mounts().some((m) => m.mountpoint === dir && (!fstype || m.fstype === fstype));
}

/** Last-resort cleanup in after hooks: a lazy unmount of whatever is still mounted at or under dir. */
export function forceUnmountUnder(dir: string): void {
  const stale = mounts()
    .map((m) => m.mountpoint)
    .filter((m) => m === dir || m.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const m of stale) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  }
}
