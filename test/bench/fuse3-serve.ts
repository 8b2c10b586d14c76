/**
 * The binding mounted in a process of its own for bench:fs (whose workloads block its own event loop):
 * `node fuse3-serve.js BACKING MOUNTPOINT`, then one JSON rule list per stdin line (NativeRule[]),
 * each answered with "ok" or "error: ..." on stdout. Calls a `js` rule fires on are answered "go on"
 * by a handler, so they cost what crossing into JS costs. SIGTERM closes the mount.
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { FuseSession, type NativeRule } from '../../native/fuse-native/index';

const [backing, mountpoint] = process.argv.slice(2);
if (!backing || !mountpoint) throw new Error('usage: fuse3-serve BACKING MOUNTPOINT');
const session = FuseSession.mount({
  rootFd: fs.openSync(backing, 'r'),
  mountpoint,
  options: { fsname: 'iochaos-bench', subtype: 'fuse3' },
  handlers: { call: () => 0 },
});
const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  try {
    session.setRules(JSON.parse(line) as NativeRule[]).then(
      () => console.log('ok'),
      (err: Error) => console.log(`error: ${err.message}`),
    );
  } catch (err) {
    console.log(`error: ${(err as Error).message}`);
  }
});
process.on('SIGTERM', () => {
  lines.close();
  void session.close().then(() => process.exit(0));
});
console.log('ready');
