/**
 * The sidecar image cannot be built here (no container engine), so this checks what it depends on:
 * every file its runtime stage copies exists after `npm run build`, and the command it runs is the
 * package's `chaosfs` bin and starts a daemon that answers the readiness probe.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../support/paths';
import { HEALTH_COMMAND, SIDECAR_NAME } from '../../sidecar/api/names';

describe('sidecar/Dockerfile', () => {
  const text = fs.readFileSync(path.join(ROOT, 'sidecar', 'Dockerfile'), 'utf8');

  it('copies only files the build produces', () => {
    const copies = [...text.matchAll(/^COPY --from=build (.+)$/gm)].map((m) => m[1].trim().split(/\s+/));
    assert.ok(copies.length >= 5, 'the runtime stage copies its files from the build stage');
    for (const parts of copies) {
      for (const src of parts.slice(0, -1)) {
        const local = path.join(ROOT, src.replace(/^\/src\//, ''));
        assert.ok(fs.existsSync(local), `${src} (${local}) exists after npm run build`);
      }
    }
  });

  it('runs the package chaosfs bin as `chaosfs daemon`, which the probe and the plugin call', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    assert.match(text, /^ENTRYPOINT \["chaosfs", "daemon"\]$/m);
    assert.match(text, new RegExp(`ln -s /app/${pkg.bin.chaosfs} /usr/local/bin/chaosfs`));
    assert.equal(HEALTH_COMMAND[0], 'chaosfs');
    assert.equal(SIDECAR_NAME, 'chaosfs');
    assert.ok(fs.readFileSync(path.join(ROOT, pkg.bin.chaosfs), 'utf8').startsWith('#!/usr/bin/env node'));
  });
});
