/**
 * Which mount a process's open file is on, from /proc/PID/fdinfo: the end state that says whether an
 * fd was swapped onto ChaosFS or back, with no timing involved.
 */
import * as fs from 'node:fs';

/** The mount id of the file behind the first fd of `pid` whose path ends with `file`. */
export function fdMountId(pid: number, file: string): number {
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let link: string;
    try {
      link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (link.endsWith(file)) {
      return Number(/mnt_id:\s*(\d+)/.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))![1]);
    }
  }
  throw new Error(`no fd of ${pid} on ${file}`);
}
