/**
 * An unprivileged app racing the daemon: a perl loop run as uid 1000 inside a target's mount
 * namespace, renaming and symlinking directories it owns until the test says stop.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

export const APP_UID = 1000;

/**
 * Starts `script` (perl, `$ARGV[0]` is its directory, `$ARGV[1]` the stop file) in pid's namespace as
 * APP_UID; it prints a line once it flips. Resolves with a function that stops it (the script checks
 * the stop file where its layout is the original one) and checks it ended well.
 */
export async function startFlipper(
  pid: number,
  script: string,
  dir: string,
  stop: string,
): Promise<() => Promise<void>> {
  const ids = ['--reuid', String(APP_UID), '--regid', String(APP_UID), '--clear-groups'];
  const child = spawn('nsenter', [
    '-t',
    String(pid),
    '-m',
    'setpriv',
    ...ids,
    'perl',
    '-e',
    script,
    dir,
    stop,
  ]);
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    void exited.then((c) => reject(new Error(`flipper exited ${c} before flipping: ${err}`)));
  });
  return async () => {
    fs.writeFileSync(stop, '');
    const code = await exited;
    fs.rmSync(stop);
    assert.equal(code, 0, `the flipper failed: ${err}`);
  };
}
