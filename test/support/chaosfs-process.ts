/**
 * Runs `chaosfs mount` as a child process over a fresh temp directory, the way the daemon and the
 * benchmarks do. The test process must never serve and use one mount itself: its reads of the mount
 * would wait on libuv's thread pool that the FUSE handlers need.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RuleInput } from '../../sidecar/api/fault-spec';
import type { ControlReply } from '../../sidecar/api/control';
import { request } from '../../sidecar/control/client';
import { CHAOSFS_CLI } from './paths';
import { forceUnmountUnder, isMounted } from './mounts';

export interface ChaosFsProcess {
  dir: string;
  src: string;
  mnt: string;
  socket: string;
  child: ChildProcess;
  stderr(): string;
  setRules(rules: RuleInput[], replace?: boolean): Promise<ControlReply>;
  clearRules(ids?: string[]): Promise<ControlReply>;
  /** SIGTERM, then the exit code; the mount must be gone. */
  stop(): Promise<number | null>;
  /** For after hooks: stops it and removes everything, whatever state it is in. */
  cleanup(): Promise<void>;
}

export async function startChaosFs(
  opts: { rules?: RuleInput[]; extraArgs?: string[] } = {},
): Promise<ChaosFsProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaosfs-test-'));
  const src = path.join(dir, 'src');
  const mnt = path.join(dir, 'mnt');
  const socket = path.join(dir, 'control.sock');
  fs.mkdirSync(src);
  fs.mkdirSync(mnt);
  const args = [CHAOSFS_CLI, 'mount', '--source', src, '--mountpoint', mnt, '--control', socket];
  if (opts.rules) {
    fs.writeFileSync(path.join(dir, 'rules.json'), JSON.stringify(opts.rules));
    args.push('--rules', path.join(dir, 'rules.json'));
  }
  const child = spawn(process.execPath, [...args, ...(opts.extraArgs ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.on('data', (d) => (err += d));
  let exited: number | null | undefined;
  const exit = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      exited = code;
      resolve(code);
    }),
  );

  const handle: ChaosFsProcess = {
    dir,
    src,
    mnt,
    socket,
    child,
    stderr: () => err,
    setRules: (rules, replace) => request(socket, { op: 'rules.set', rules, replace }),
    clearRules: (ids) => request(socket, { op: 'rules.clear', ids }),
    async stop() {
      if (exited === undefined) child.kill('SIGTERM');
      return exit;
    },
    async cleanup() {
      if (exited === undefined) {
        child.kill('SIGTERM');
        await Promise.race([exit, sleep(5000)]);
        if (exited === undefined) child.kill('SIGKILL');
      }
      forceUnmountUnder(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  for (let i = 0; i < 200; i++) {
    if (exited !== undefined) {
      await handle.cleanup();
      throw new Error(`chaosfs mount exited with ${exited} before mounting: ${err}`);
    }
    if (isMounted(mnt, 'fuse.chaosfs') && fs.existsSync(socket)) return handle;
    await sleep(25);
  }
  await handle.cleanup();
  throw new Error(`chaosfs did not mount within 5 s: ${err}`);
}
