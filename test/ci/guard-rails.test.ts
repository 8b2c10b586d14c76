/**
 * The CI guard rails themselves: the repo's mocha configuration refuses `.only` and pending tests, and
 * .ci/check-totals refuses a run that skipped tests or passed fewer than the floor in .ci/min-tests.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../support/paths';

describe('CI guard rails', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-ci-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Mocha with the repo's .mocharc.json on one spec file of `body`. */
  const mocha = (body: string) => {
    const spec = path.join(dir, 'probe.test.js');
    fs.writeFileSync(spec, body);
    return spawnSync(process.execPath, [path.join(ROOT, 'node_modules/mocha/bin/mocha.js'), spec], {
      cwd: ROOT,
      encoding: 'utf8',
      // The inner run makes its own run dir under TMPDIR and, refused before any test, never removes
      // it: keep it in this test's dir, which afterEach removes.
      env: { ...process.env, TMPDIR: dir },
    });
  };

  it('.mocharc.json: `.only` and pending tests fail the run', () => {
    const only = mocha(`describe('s', () => { it.only('a', () => {}); it('b', () => {}); });`);
    assert.notEqual(only.status, 0);
    assert.match(only.stderr + only.stdout, /\.only` forbidden/);
    for (const pending of [
      `describe('s', () => { it('no body'); });`,
      `describe('s', () => { it.skip('skipped', () => {}); });`,
      `describe('s', () => { it('skips itself', function () { this.skip(); }); });`,
    ]) {
      const r = mocha(pending);
      assert.notEqual(r.status, 0, pending);
      assert.match(r.stdout, /Pending test forbidden/, pending);
    }
    const fine = mocha(`describe('s', () => { it('a', () => {}); });`);
    assert.equal(fine.status, 0, fine.stderr);
    assert.match(fine.stdout, /^tests: 1 passed, 0 failed, 0 skipped$/m);
  });

  it('.ci/check-totals: passes only one totals line with no skip, no failure, and the floor reached', () => {
    const check = (output: string, floor: string) => {
      const file = path.join(dir, 'out.txt');
      fs.writeFileSync(file, output);
      return spawnSync(path.join(ROOT, '.ci/check-totals'), [file, floor], { encoding: 'utf8' });
    };
    const ok = check('  ✔ a\n\ntests: 250 passed, 0 failed, 0 skipped\n', '250');
    assert.equal(ok.status, 0, ok.stderr);
    const cases: [string, string, RegExp][] = [
      ['tests: 249 passed, 0 failed, 0 skipped\n', '250', /fewer than the floor of 250/],
      ['tests: 260 passed, 0 failed, 1 skipped\n', '250', /1 test\(s\) skipped/],
      ['tests: 260 passed, 2 failed, 0 skipped\n', '250', /2 test\(s\) failed/],
      ['lint failed before mocha ran\n', '250', /found 0/],
      ['tests: 260 passed, 0 failed, 0 skipped\ntests: 1 passed, 0 failed, 0 skipped\n', '1', /found 2/],
      ['tests: 260 passed, 0 failed, 0 skipped\n', 'lots', /whole number/],
    ];
    for (const [output, floor, message] of cases) {
      const r = check(output, floor);
      assert.notEqual(r.status, 0, output);
      assert.match(r.stderr, message, output);
    }
  });

  it('.ci/min-tests holds the floor as one whole number', () => {
    assert.match(fs.readFileSync(path.join(ROOT, '.ci/min-tests'), 'utf8'), /^\d+\n$/);
  });
});
