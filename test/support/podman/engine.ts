/**
 * podman as this machine can run it, for the tests' kubelet and image builds. Everything goes through
 * one store of its own (images cached between runs under CACHE_DIR, run state on tmpfs), so the tests
 * neither see nor touch anyone else's containers or images. Flags every call needs:
 *  - `--cgroup-manager cgroupfs`: no systemd here;
 *  - `--runtime runc-no-rlimits`: runc minus the rlimits this VM refuses (see that script);
 *    crun cannot run here ("cgroups in hybrid mode not supported").
 */
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT as REPO_ROOT } from '../paths';

/** Survives between runs on one machine: the debootstrapped base and the built images live here. */
export const CACHE_DIR = process.env.IOCHAOS_TEST_CACHE ?? '/var/cache/iochaos-test';
const ROOT = path.join(CACHE_DIR, 'podman', 'storage');
// Run state belongs on tmpfs: podman tells a reboot from a stale state by its tmpdir's being empty.
const RUN = '/dev/shm/iochaos-test-podman';
export const RUNTIME = path.join(REPO_ROOT, 'test', 'support', 'podman', 'runc-no-rlimits');

export const GLOBAL_FLAGS = [
  '--root',
  ROOT,
  '--runroot',
  path.join(RUN, 'run'),
  '--tmpdir',
  path.join(RUN, 'tmp'),
  '--cgroup-manager',
  'cgroupfs',
  '--runtime',
  RUNTIME,
];

export class PodmanError extends Error {
  constructor(
    readonly args: string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(
      `podman ${args.join(' ')} failed (exit ${code}): ${stderr.trim().split('\n').slice(-5).join('\n')}`,
    );
  }
}

/** Runs `podman GLOBAL_FLAGS... args`; resolves with stdout, rejects with a PodmanError. */
export function podman(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'podman',
      [...GLOBAL_FLAGS, ...args],
      { maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 120_000 },
      (err, stdout, stderr) => {
        if (err) reject(new PodmanError(args, typeof err.code === 'number' ? err.code : null, stderr));
        else resolve(stdout);
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/**
 * An executable that is `podman` with this store and runtime, for programs that take a container
 * engine command (scripts/images.sh's CONTAINER_ENGINE) and for looking around by hand.
 */
export function podmanShim(): string {
  const file = path.join(CACHE_DIR, 'podman', 'podman');
  const text = `#!/bin/sh\n# podman with the iochaos tests' own store and runtime (test/support/podman/engine.ts)\nexec podman ${GLOBAL_FLAGS.map((f) => `'${f}'`).join(' ')} "$@"\n`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text)
    fs.writeFileSync(file, text, { mode: 0o755 });
  return file;
}

/** Why podman cannot run here, or undefined when it can (root, the packages installed). */
export function podmanMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'the pod tests run containers with podman as root';
  for (const bin of ['podman', 'runc', 'debootstrap']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) {
      return `${bin} is not installed: bash test/system-packages.sh installs it`;
    }
  }
  return undefined;
}
