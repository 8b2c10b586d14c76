/**
 * Issue 10, item 4: a rule's path glob runs in linear time on names the app chooses, and means what
 * it meant with picomatch (which stays the oracle here for patterns it matches quickly).
 */
import assert from 'node:assert/strict';
import picomatch from 'picomatch';
import { parseRules } from '../../sidecar/api/fault-spec';
import { compileGlob } from '../../sidecar/faults/glob';
import { Filter } from '../../sidecar/faults/filter';
import { seededRandom } from '../../sidecar/faults/random';
import { methodsOf } from '../../sidecar/faults/methods';

const PATTERNS = [
  '*',
  '*.bin',
  '**',
  '**/*',
  '**/*.bin',
  'd/*.bin',
  'a/**',
  'a/**/b',
  'a/**/*.sst',
  '**/b',
  'a/*/c',
  'x?.log',
  '[ab]*',
  '[^a-c]x',
  '[a-c][0-9]',
  '[[:digit:]]*',
  '{a,b}/*.txt',
  '{a,b/{c,d}}/f',
  '*.{sst,log}',
  '{x}',
  '\\*',
  'a**b',
  '.hidden',
  '*/.git/**',
  '!*.bin',
];

const PATHS = [
  '',
  'a',
  'b',
  'x.bin',
  'a.bin',
  'd/x.bin',
  'd/e/x.bin',
  'a/b',
  'a/x/b',
  'a/x/y/b',
  'a/b/c',
  'a/x.sst',
  'a/x/y.sst',
  'b/c/f',
  'b/d/f',
  'a/f',
  'x1.log',
  'x12.log',
  'ax',
  'dx',
  'b1',
  '7up',
  'a/t.txt',
  'c/t.txt',
  'q.sst',
  'q.log',
  '{x}',
  'x',
  '*',
  'axxb',
  'a/xb',
  '.hidden',
  'r/.git/config',
  '.bin',
];

describe('security: path globs (issue 10, item 4)', () => {
  it('agrees with picomatch (dot: true) on every pattern and path here', () => {
    const wrong: string[] = [];
    for (const pattern of PATTERNS) {
      const ours = compileGlob(pattern);
      const theirs = picomatch(pattern, { dot: true });
      for (const path of PATHS) {
        if (ours(path) !== theirs(path)) wrong.push(`${pattern} on "${path}": ours ${ours(path)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('reads [!a] as POSIX does ("not a"), where picomatch read "! or a"', () => {
    assert.deepEqual(['a', 'b', '!'].map(compileGlob('[!a]')), [false, true, true]);
  });

  it('keeps `*` within a component and lets `**` cross them', () => {
    const g = compileGlob('**/*.bin');
    assert.deepEqual(['x.bin', 'a/b/c/x.bin', 'a/x.txt'].map(g), [true, true, false]);
    const one = compileGlob('*.bin');
    assert.deepEqual(['x.bin', 'a/x.bin'].map(one), [true, false]);
  });

  it('matches the backtracking worst case in linear steps: 10,000 calls of *a*a*a*a*a*a*a*a*b on 60 characters', () => {
    const pattern = '*a*a*a*a*a*a*a*a*b';
    const name = 'a'.repeat(60);
    const g = compileGlob(pattern);
    for (let i = 0; i < 10_000; i++) assert.equal(g(name), false);
    // Each character visits each state at most twice (one step, one closure): the bound is
    // states x (length + 1) x 2 per call, whatever the pattern's stars.
    const bound = g.states * (name.length + 1) * 2 * 10_000;
    assert.ok(g.steps() <= bound, `${g.steps()} steps > ${bound}`);
    // Through the rule filter, as ChaosFS calls it.
    const [rule] = parseRules([{ action: 'fault', errno: 'EIO', path: pattern }]);
    const filter = new Filter(rule, seededRandom(1));
    const call = { op: 'getattr' as const, methods: methodsOf('getattr'), path: name };
    for (let i = 0; i < 10_000; i++) assert.equal(filter.matches(call), false);
    assert.equal(filter.matches({ ...call, path: `${name}b` }), true);
  });

  it('refuses what it cannot match in linear time, and malformed classes, saying why', () => {
    assert.throws(() => compileGlob('+(a|b)'), /extglob "\+\(" is not supported/);
    assert.throws(() => compileGlob('a/[b'), /"\[" at 2 has no closing "\]"/);
    assert.throws(() => compileGlob('[[:bogus:]]'), /unknown character class/);
  });
});
