/**
 * The C glob matcher (src/glob.c) means what sidecar/faults/glob.ts means: every glob of a table is
 * matched by both against every path of a table, and the answers must be equal; globs glob.ts refuses,
 * C refuses too.
 */
import * as assert from 'node:assert/strict';
import { globMatch } from '../../native/fuse-native/index';
import { compileGlob } from '../../sidecar/faults/glob';

const GLOBS = [
  '**/*.sst',
  '*.sst',
  'db/*.sst',
  'db/**',
  'db/**/*.log',
  '**',
  '*',
  '**/x',
  'a/**/b',
  'a**b',
  '**a',
  'a/**b',
  '?',
  'a?c',
  '[abc]*',
  '[!abc]*',
  '[^a-c]x',
  '[z-a]',
  '[]a]',
  '[a-]',
  '[\\]]',
  '[[:digit:]]*',
  '[[:alpha:]_]*.txt',
  '[[:upper:][:digit:]]',
  '[[:space:]]',
  '[[:punct:]]',
  '[[:xdigit:]][[:xdigit:]]',
  '[[:word:]]*',
  '{a,b}',
  '{a,b/c}/**',
  '{*.sst,*.log}',
  '{a,{b,c}}x',
  '{a}',
  '{a,b',
  'x{}',
  '\\*',
  'a\\/b',
  '!*.sst',
  '!**/*.log',
  '!',
  '.hidden/*',
  '**/.git/**',
  'é*',
  '日本/*.db',
  '*a*a*a*a*a*a*b',
  'a/',
  '/a',
  '',
];

const PATHS = [
  '',
  'a',
  'b',
  'c',
  'x',
  'ab',
  'abc',
  'axc',
  'a/b',
  'a/x/b',
  'a/x/y/b',
  'a/bb',
  'ab/b',
  'b/c',
  'b/c/d',
  'db',
  'db/1.sst',
  'db/sub/1.sst',
  'db/1.log',
  'db/x/y/1.log',
  '1.sst',
  'x.sst.tmp',
  'dir/.sst',
  '.hidden/f',
  'repo/.git/objects/ab',
  '*',
  'a/b/',
  '/a',
  ']',
  '-',
  'A',
  'Z9',
  '9z',
  'a_b.txt',
  '_x.txt',
  ' ',
  '\t',
  '!',
  '%',
  'ff',
  'fg',
  '{a}',
  '{a,b',
  'x{}',
  'ax',
  'bx',
  'cx',
  'dx',
  'é',
  'éa',
  'e',
  '日本/a.db',
  '日本/x/a.db',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac',
  'aaaaaaaaaab',
];

describe('fuse-native (libfuse3): the C glob matcher', function () {
  it('answers as sidecar/faults/glob.ts on every glob and path of the tables', function () {
    let compared = 0;
    const differ: string[] = [];
    for (const glob of GLOBS) {
      const js = compileGlob(glob);
      const c = globMatch(glob, PATHS);
      PATHS.forEach((p, k) => {
        compared++;
        if (js(p) !== c[k])
          differ.push(`${JSON.stringify(glob)} on ${JSON.stringify(p)}: js ${js(p)}, C ${c[k]}`);
      });
    }
    assert.deepEqual(differ, []);
    assert.equal(compared, GLOBS.length * PATHS.length);
  });

  it('matches globs that both call true somewhere and false elsewhere (the table is not all one answer)', function () {
    const sst = globMatch('**/*.sst', ['db/1.sst', '1.sst', 'db/1.log', '']);
    assert.deepEqual(sst, [true, true, false, false]);
  });

  it('refuses what glob.ts refuses, naming why', function () {
    for (const bad of ['[abc', 'a\\', '+(a|b)', '!(a)', '[[:nope:]]']) {
      assert.throws(() => compileGlob(bad));
      assert.throws(() => globMatch(bad, ['a']), /bad glob: .+/, bad);
    }
  });

  it('runs in linear time on a pattern that is exponential for a backtracking matcher', function () {
    const name = 'a'.repeat(5000);
    const [m] = globMatch('*a*a*a*a*a*a*a*a*a*a*a*a*b', [name]);
    assert.equal(m, false);
  });
});
