/**
 * The krew manifest: the fields krew requires, a version that matches package.json, and the plugin
 * name kubectl resolves (`kubectl iochaos` runs `kubectl-iochaos`).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { ROOT } from '../support/paths';

describe('manifests/krew/iochaos.yaml', () => {
  const manifest = YAML.parse(fs.readFileSync(path.join(ROOT, 'manifests', 'krew', 'iochaos.yaml'), 'utf8'));
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    bin: Record<string, string>;
  };

  it('is a krew Plugin named iochaos, at the version of package.json, running kubectl-iochaos', () => {
    assert.equal(manifest.apiVersion, 'krew.googlecontainertools.github.com/v1alpha2');
    assert.equal(manifest.kind, 'Plugin');
    assert.equal(manifest.metadata.name, 'iochaos');
    assert.equal(manifest.spec.version, `v${pkg.version}`);
    assert.ok(pkg.bin['kubectl-iochaos'], 'package.json names the same binary');
    assert.ok(manifest.spec.shortDescription.length <= 50, 'krew caps shortDescription');
    for (const p of manifest.spec.platforms) {
      assert.equal(p.bin, 'kubectl-iochaos');
      assert.match(p.uri, new RegExp(`/v${pkg.version}/kubectl-iochaos-v${pkg.version}\\.tar\\.gz$`));
      assert.match(p.sha256, /^[0-9a-f]{64}$/);
      assert.ok(p.selector.matchExpressions.length > 0);
    }
  });
});
