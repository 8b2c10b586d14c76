/**
 * The images the pod tests run, built on this machine and cached in the tests' podman store:
 *
 * - Base images under the names the Dockerfiles use (no registry is reachable here): a
 *   `debootstrap --variant=minbase bookworm` from the Debian mirror apt uses, plus this machine's
 *   node, npm, node headers (node-gyp), CA bundle and npm config (the npm registry is reached through
 *   them). node:20-bookworm adds build-essential and python3, as the real one has them;
 *   the distroless name gets the same Debian with node at /nodejs/bin/node and uid 65532 (the paths
 *   and user the webhook's Dockerfile and Deployment rely on; it is not distroless: it has a shell).
 * - The product images, built by `scripts/images.sh` (what `npm run images` runs) with
 *   `--pull=never --network host`, tagged with a content hash of what goes into them: a fresh
 *   machine builds once, a changed source file builds again.
 */
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../paths';
import { CACHE_DIR, podman, podmanShim } from './engine';

export const BASE_SLIM = 'docker.io/library/node:20-bookworm-slim';
export const BASE_FULL = 'docker.io/library/node:20-bookworm';
export const BASE_DISTROLESS = 'gcr.io/distroless/nodejs20-debian12:nonroot';
const BASE_LABEL = 'dev.iochaos.test.base';
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Bump when the recipe below changes. */
const RECIPE = 'base-v2';

export const LOCAL_REGISTRY = 'localhost/iochaos';

export interface ProductImages {
  sidecar: string;
  webhook: string;
  tag: string;
}

const sha = (parts: (string | Buffer)[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
};

/** The Debian mirror this machine's apt uses (deb822 or one-line sources). */
function debianMirror(): string {
  for (const f of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    const text = fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
    const m =
      /^URIs:\s*(\S+\/debian)\s*$/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\s/m.exec(text);
    if (m) return m[1]!;
  }
  return 'http://deb.debian.org/debian';
}

async function label(ref: string): Promise<string | undefined> {
  try {
    const out = await podman(['image', 'inspect', '--format', `{{index .Labels "${BASE_LABEL}"}}`, ref]);
    return out.trim();
  } catch {
    return undefined;
  }
}

/** Runs a build step with its output in a log file (named in the error), so failures can be read. */
function step(log: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  fs.appendFileSync(log, `\n$ ${cmd} ${args.join(' ')}\n`);
  const fd = fs.openSync(log, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env, cwd: ROOT });
  fs.closeSync(fd);
  return new Promise((resolve, reject) =>
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')}... failed (exit ${code}); see ${log}`)),
    ),
  );
}

function containerfile(dir: string, name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

/** The three base images, made once per machine (and again when node or the recipe changes). */
export async function ensureBaseImages(log: string): Promise<void> {
  const node = process.execPath;
  const mirror = debianMirror();
  const hash = sha([
    RECIPE,
    mirror,
    execFileSync(node, ['-v']).toString(),
    fs.readFileSync(node).subarray(0, 1 << 20),
  ]);
  const have = await Promise.all([BASE_SLIM, BASE_FULL, BASE_DISTROLESS].map(label));
  if (have.every((h) => h === hash)) return;

  const work = fs.mkdtempSync(path.join(CACHE_DIR, 'base-'));
  try {
    const rootfs = path.join(work, 'rootfs');
    await step(log, 'debootstrap', ['--variant=minbase', 'bookworm', rootfs, mirror]);
    const put = (from: string, to = from) => {
      fs.mkdirSync(path.dirname(path.join(rootfs, to)), { recursive: true });
      fs.cpSync(from, path.join(rootfs, to), { recursive: true, dereference: false, verbatimSymlinks: true });
    };
    put(node, '/usr/bin/node');
    put('/usr/lib/node_modules/npm');
    fs.symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(rootfs, 'usr/bin/npm'));
    fs.symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(rootfs, 'usr/bin/npx'));
    put('/usr/include/node');
    put('/etc/ssl/certs/ca-certificates.crt');
    // npm's global config (not the user's, which may hold credentials): the CA bundle the registry
    // is reached through, and node-gyp's headers from /usr/include/node instead of a download.
    fs.mkdirSync(path.join(rootfs, 'usr/etc'), { recursive: true });
    fs.writeFileSync(
      path.join(rootfs, 'usr/etc/npmrc'),
      'cafile=/etc/ssl/certs/ca-certificates.crt\nnodedir=/usr\naudit=false\nfund=false\nupdate-notifier=false\n',
    );
    const tar = path.join(work, 'rootfs.tar');
    await step(log, 'tar', ['-C', rootfs, '-cf', tar, '.']);
    await podman(
      [
        'import',
        '--change',
        `LABEL ${BASE_LABEL}=${hash}`,
        // As the real node images set it: without it a pod's `command: [node, ...]` is not found
        // (kube play passes the image's env, empty after an import, and no default PATH).
        '--change',
        `ENV PATH=${DEFAULT_PATH}`,
        '--change',
        'CMD ["node"]',
        tar,
        BASE_SLIM,
      ],
      { timeoutMs: 600_000 },
    );
    const shim = podmanShim();
    const build = (file: string, tag: string) =>
      step(log, shim, ['build', '--pull=never', '--network', 'host', '-f', file, '-t', tag, work]);
    await build(
      containerfile(
        work,
        'full',
        `FROM ${BASE_SLIM}\nRUN apt-get update && apt-get install -y --no-install-recommends build-essential python3 && rm -rf /var/lib/apt/lists/*\n`,
      ),
      BASE_FULL,
    );
    await build(
      containerfile(
        work,
        'distroless',
        `FROM ${BASE_SLIM}\nRUN mkdir -p /nodejs/bin && ln -s /usr/bin/node /nodejs/bin/node && mkdir -p /home/nonroot && chown 65532:65532 /home/nonroot\nUSER 65532:65532\nENV HOME=/home/nonroot\n`,
      ),
      BASE_DISTROLESS,
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** What goes into the product images: the build context the Dockerfiles copy from. */
function contentHash(): string {
  const files = execFileSync(
    'git',
    [
      'ls-files',
      '-co',
      '--exclude-standard',
      '--',
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      '.dockerignore',
      'native',
      'sidecar',
      'plugin',
      'webhook',
      'scripts/images.sh',
    ],
    { cwd: ROOT },
  )
    .toString()
    .split('\n')
    .filter((f) => f !== '' && fs.existsSync(path.join(ROOT, f)))
    .sort();
  return sha(files.flatMap((f) => [f, fs.readFileSync(path.join(ROOT, f))]));
}

/** Both product images, built unless this content was built before; `log` gets the build output. */
export async function ensureProductImages(log: string): Promise<ProductImages> {
  await ensureBaseImages(log);
  const baseId = (
    await podman(['image', 'inspect', '--format', '{{.Id}}', BASE_FULL, BASE_SLIM, BASE_DISTROLESS])
  ).trim();
  const tag = sha([contentHash(), baseId]);
  const images = {
    sidecar: `${LOCAL_REGISTRY}/chaosfs:${tag}`,
    webhook: `${LOCAL_REGISTRY}/webhook:${tag}`,
    tag,
  };
  const exists = async (ref: string) =>
    podman(['image', 'exists', ref]).then(
      () => true,
      () => false,
    );
  if ((await exists(images.sidecar)) && (await exists(images.webhook))) return images;
  await step(log, 'bash', [path.join(ROOT, 'scripts', 'images.sh')], {
    ...process.env,
    CONTAINER_ENGINE: podmanShim(),
    IMAGE_REGISTRY: LOCAL_REGISTRY,
    IMAGE_TAG: tag,
    IMAGE_BUILD_FLAGS: '--pull=never --network host',
  });
  return images;
}
