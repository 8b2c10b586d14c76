/**
 * Tests here mount FUSE file systems, ptrace processes and unshare namespaces for real. Without root
 * or /dev/fuse they cannot, and they fail saying so rather than skipping.
 */
import * as fs from 'node:fs';

export function requireRootAndFuse(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('this test needs root (it mounts FUSE and uses namespaces): run the suite as root');
  }
  try {
    fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    throw new Error('this test needs /dev/fuse (modprobe fuse, or give the container the device)');
  }
}
