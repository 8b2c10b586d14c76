/**
 * The docs stand alone and say what works: no link leaves the repository, and the commands the README
 * shows for running the plugin from a checkout do what it says.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../support/paths';

function markdownFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) return [];
    const p = path.join(dir, e.name);
    return e.isDirectory() ? markdownFiles(p) : e.name.endsWith('.md') ? [p] : [];
  });
}

describe('the docs', function () {
  this.timeout(60_000);

  it('every relative link and path named in the docs stays inside the repository', () => {
    const files = markdownFiles(ROOT);
    assert.ok(files.some((f) => f.endsWith(path.join('docs', 'ARCHITECTURE.md'))));
    for (const file of files) {
      const text = fs.readFileSync(file, 'utf8');
      const targets = [...text.matchAll(/\]\(([^)#\s]+)[^)]*\)|`(\.\.\/[^`\s]+)`/g)].map((m) => m[1] ?? m[2]);
      for (const target of targets) {
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        const resolved = path.resolve(path.dirname(file), target);
        assert.ok(
          resolved.startsWith(ROOT + path.sep),
          `${path.relative(ROOT, file)} points outside the repository: ${target}`,
        );
      }
    }
  });

  it('`npx --no kubectl-iochaos -- --help`, as the README writes it, prints the help', () => {
    assert.match(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'), /npx --no kubectl-iochaos -- --help/);
    const r = spawnSync('npx', ['--no', 'kubectl-iochaos', '--', '--help'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^kubectl iochaos <command> TARGET \[options\]/);
    assert.match(r.stdout, /Examples:[\s\S]*Commands:[\s\S]*Exit codes:/);
  });
});
