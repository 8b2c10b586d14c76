/**
 * What the journal's compaction keeps (every injection not yet recovered, folded into its last known
 * state) and drops (recovered injections, torn lines), on the journal file itself.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Journal } from './journal';

describe('journal compaction', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iochaos-journal-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const lines = () =>
    fs
      .readFileSync(path.join(dir, 'journal.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('keeps open injections in their last state, drops recovered ones and torn lines', () => {
    const j = new Journal(dir);
    j.record('inj-done', 'begun', { volumePath: '/done', nsPid: 10 });
    j.record('inj-open', 'begun', { volumePath: '/open', nsPid: 20, pids: [20] });
    j.record('inj-done', 'active');
    j.record('inj-open', 'attached', { fuseMntId: 77 });
    j.record('inj-left', 'begun', { volumePath: '/left', nsPid: 30 });
    j.record('inj-done', 'recovered');
    j.record('inj-left', 'recover-incomplete', { left: ['pid 31 fd 4 /left/x'] });
    j.record('inj-open', 'swapped', { nsPid: 21 });
    fs.appendFileSync(path.join(dir, 'journal.jsonl'), '{"id":"inj-open","step":"recov');
    j.compact();

    const kept = lines();
    assert.deepEqual(
      kept.map((l) => l.id),
      ['inj-open', 'inj-left'],
      'one line per open injection, in the order they began',
    );
    const [open, left] = kept;
    assert.equal(open.step, 'swapped', 'the last step, not the torn line after it');
    assert.equal(open.volumePath, '/open', 'fields from the first line are kept');
    assert.equal(open.fuseMntId, 77, 'fields from a middle line are kept');
    assert.equal(open.nsPid, 21, 'a field changed later has its latest value');
    assert.deepEqual(open.pids, [20]);
    assert.equal(left.step, 'recover-incomplete');
    assert.deepEqual(left.left, ['pid 31 fd 4 /left/x']);

    // The journal goes on after compaction, and a replay reads both the compacted and the new lines.
    j.record('inj-open', 'recovered');
    j.close();
    const again = new Journal(dir);
    assert.deepEqual(
      again.replay().map((r) => [r.id, r.step]),
      [
        ['inj-open', 'recovered'],
        ['inj-left', 'recover-incomplete'],
      ],
    );
    again.compact();
    again.close();
    assert.deepEqual(
      lines().map((l) => l.id),
      ['inj-left'],
    );
  });
  it('replays a torn last line as absent, and compacts to a file only root can read, whatever the umask', () => {
    const j = new Journal(dir);
    j.record('inj-a', 'begun', { volumePath: '/a', nsPid: 10 });
    fs.appendFileSync(path.join(dir, 'journal.jsonl'), '{"id":"inj-a","step":"attac');
    assert.deepEqual(
      j.replay().map((r) => [r.id, r.step]),
      [['inj-a', 'begun']],
    );
    const umask = process.umask(0);
    try {
      j.compact();
    } finally {
      process.umask(umask);
    }
    j.close();
    assert.equal(fs.statSync(path.join(dir, 'journal.jsonl')).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(dir), ['journal.jsonl'], 'no temporary file is left');
  });
});
