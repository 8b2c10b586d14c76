/**
 * Defect 1: the addon must load the libfuse bundled with fuse-shared-library, not whatever the
 * distribution has (this machine's Debian libfuse2 used to hide that nothing else was found).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requireRootAndFuse } from '../support/root';
import { fuseNativeDir, node, run } from './support';

const release = path.join(fuseNativeDir, 'build', 'Release');
const printMaps = `require('fuse-native'); process.stdout.write(require('fs').readFileSync('/proc/self/maps', 'utf8'))`;

function libfuseIn(maps: string): string[] {
  return [...new Set(maps.split('\n').map((l) => l.trim().split(/\s+/)[5] ?? ''))].filter((p) =>
    /libfuse\.so/.test(p),
  );
}

describe('fuse-native: loads its bundled libfuse (defect 1)', function () {
  before(requireRootAndFuse);

  it('links fuse.node with RUNPATH $ORIGIN and puts libfuse.so.2 beside it', async function () {
    const dyn = await run('readelf', ['-d', path.join(release, 'fuse.node')]);
    assert.equal(dyn.code, 0, dyn.stderr);
    assert.match(dyn.stdout, /\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[\$ORIGIN\]/);
    assert.match(dyn.stdout, /NEEDED\)\s+Shared library: \[libfuse\.so\.2\]/);
    const soname = await run('readelf', ['-d', path.join(release, 'libfuse.so.2')]);
    assert.match(soname.stdout, /SONAME\)\s+Library soname: \[libfuse\.so\.2\]/);
  });

  it('maps the libfuse.so.2 under build/Release into a process that requires it', async function () {
    const child = await node(printMaps);
    assert.equal(child.code, 0, child.stderr);
    assert.deepEqual(libfuseIn(child.stdout), [fs.realpathSync(path.join(release, 'libfuse.so.2'))]);
  });

  it('still loads when the system libfuse.so.2 is unusable, as on a machine without libfuse2', async function () {
    // Hide the distribution's copies (bind /dev/null over them) in a private mount namespace.
    const system = (await run('sh', ['-c', 'ldconfig -p | grep -o "/[^ ]*libfuse\\.so\\.2$" || true'])).stdout
      .split('\n')
      .filter(Boolean);
    const hide = system.map((p) => `mount --bind /dev/null ${JSON.stringify(p)}`).join(' && ');
    const script = `${hide || 'true'} && exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(printMaps)}`;
    const child = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script]);
    assert.equal(child.code, 0, child.stderr);
    assert.deepEqual(libfuseIn(child.stdout), [fs.realpathSync(path.join(release, 'libfuse.so.2'))]);
  });
});
