/**
 * Calls shown to JavaScript: only the ops in the mask cross, a handler can fail a call or change its
 * data and attributes, delayed handlers run side by side, and invalidate() makes a new mask apply to
 * files the kernel had cached.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Call } from '../../native/fuse-native/index';
import { eachSandbox, mount, py, sh } from './support';

const EIO = -5;
const EACCES = -13;

describe('fuse-native (libfuse3): calls shown to JS', function () {
  const box = eachSandbox();

  it('shows only the ops in jsOps, with the path and backing ino; a negative answer fails the call', async function () {
    const b = box();
    fs.mkdirSync(path.join(b.backing, 'd'));
    fs.writeFileSync(path.join(b.backing, 'd/f'), 'data\n');
    const seen: Call[] = [];
    const s = mount(b, {
      jsOps: ['open'],
      handlers: { call: (c) => (seen.push(c), c.path === 'd/f' ? EACCES : 0) },
    });
    const r = await sh(`cat '${b.mnt}/hello'; cat '${b.mnt}/d/f'`);
    assert.equal(r.stdout, 'hello world\n');
    assert.match(r.stderr, /d\/f: Permission denied/);
    assert.deepEqual(
      seen.map((c) => [c.op, c.path, c.ino]),
      [
        ['open', 'hello', fs.statSync(path.join(b.backing, 'hello')).ino],
        ['open', 'd/f', fs.statSync(path.join(b.backing, 'd/f')).ino],
      ].map(([op, p, ino]) => [op, p, BigInt(ino as number)]),
    );
    const stats = s.stats()!;
    assert.equal(stats.jsCalls.open, 2);
    assert.equal(stats.jsCalls.read, 0);
    assert.ok(stats.nativeCalls.read >= 1 && stats.nativeCalls.lookup >= 2);
    s.setJsOps([]);
    assert.equal((await sh(`cat '${b.mnt}/d/f'`)).stdout, 'data\n');
    assert.equal(seen.length, 2);
  });

  it('names new files by their path (lookup, create, mkdir) and fails them before they reach the backing', async function () {
    const b = box();
    const seen: string[] = [];
    mount(b, {
      jsOps: ['create', 'mkdir', 'unlink'],
      handlers: { call: (c) => (seen.push(`${c.op} ${c.path} ${c.ino}`), c.op === 'unlink' ? EIO : 0) },
    });
    const r = await sh(`mkdir '${b.mnt}/d' && echo x > '${b.mnt}/d/new' && rm '${b.mnt}/d/new'`);
    assert.match(r.stderr, /Input\/output error/);
    assert.deepEqual(seen, ['mkdir d 0', 'create d/new 0', 'unlink d/new 0']);
    assert.ok(fs.existsSync(path.join(b.backing, 'd/new')), 'the failed unlink never reached the backing');
  });

  it('after a call: changes the bytes read, the bytes written and the attributes the app sees', async function () {
    const b = box();
    const sizes: [number | undefined, number | undefined][] = [];
    mount(b, {
      jsOps: ['read', 'write', 'getattr'],
      handlers: {
        call: (c) => {
          if (!c.after) {
            if (c.op === 'write') c.data!.fill('Z'.charCodeAt(0), 0, 1);
            return { after: true };
          }
          if (c.op === 'read' && c.data!.length > 0) c.data!.fill('r'.charCodeAt(0), 0, 1);
          if (c.op === 'getattr' && c.path === 'hello') c.attr!.mode = (c.attr!.mode & ~0o777) | 0o404;
          if (c.op === 'write') sizes.push([c.result, c.sizeBefore]);
        },
      },
    });
    const r = await sh(`cat '${b.mnt}/hello'; stat -c %a '${b.mnt}/hello'; printf abc >> '${b.mnt}/hello'`);
    assert.equal(r.stdout, 'rello world\n404\n', r.stderr);
    assert.equal(fs.readFileSync(path.join(b.backing, 'hello'), 'utf8'), 'hello world\nZbc');
    assert.equal(fs.statSync(path.join(b.backing, 'hello')).mode & 0o777, 0o644, 'only what the app saw');
    assert.deepEqual(sizes, [[3, 12]]);
  });

  it('a handler that throws or answers nonsense fails the call with EIO and is reported', async function () {
    const b = box();
    const reported: string[] = [];
    mount(b, {
      jsOps: ['open', 'getxattr'],
      handlers: {
        call: (c) => {
          if (c.op === 'open') throw new Error('boom');
          return 7 as never;
        },
      },
      onHandlerError: (err, c) => reported.push(`${c.op}: ${(err as Error).message}`),
    });
    const r = await sh(`cat '${b.mnt}/hello'; getfattr -n user.x '${b.mnt}/hello'`);
    assert.match(r.stderr, /hello: Input\/output error[\s\S]*Input\/output error/);
    assert.deepEqual(reported, [
      'open: boom',
      'getxattr: a handler answered 7: 0 or a negative errno expected',
    ]);
  });

  it('runs 16 reads delayed 1 s each by their handlers side by side, not one after another', async function () {
    const b = box();
    for (let i = 0; i < 16; i++) fs.writeFileSync(path.join(b.backing, `f${i}`), `${i}\n`);
    let inFlight = 0;
    let most = 0;
    mount(b, {
      jsOps: ['read'],
      handlers: {
        call: async () => {
          most = Math.max(most, ++inFlight);
          await new Promise((r) => setTimeout(r, 1000));
          inFlight--;
        },
      },
    });
    const start = Date.now();
    const r = await sh(`for i in $(seq 0 15); do cat '${b.mnt}'/f$i >/dev/null & done; wait`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(most, 16, 'all 16 were waiting in their handlers at once');
    assert.ok(Date.now() - start < 8000, 'ends well before 16 s');
  });

  it('invalidate() makes a new mask reach files whose pages, attributes and names the kernel cached', async function () {
    const b = box();
    fs.mkdirSync(path.join(b.backing, 'd'));
    fs.writeFileSync(path.join(b.backing, 'd/f'), 'cached\n');
    const flag = path.join(b.base, 'go');
    const seen: string[] = [];
    const s = mount(b, {
      options: { attrTimeout: 3600, entryTimeout: 3600 },
      handlers: { call: (c) => (seen.push(`${c.op} ${c.path}`), c.op === 'read' ? EIO : 0) },
    });
    // A reader that keeps its file open (its pages cached, keep_cache) across the change.
    const reader = spawn('python3', [
      '-c',
      `import os,time
fd=os.open('${b.mnt}/d/f',os.O_RDONLY)
print(os.pread(fd,100,0).decode().strip(), flush=True)
while not os.path.exists('${flag}'): time.sleep(0.05)
try: print(os.pread(fd,100,0).decode().strip())
except OSError as e: print(e.strerror)`,
    ]);
    let out = '';
    reader.stdout.on('data', (d) => (out += String(d)));
    const exited = new Promise((r) => reader.on('exit', r));
    while (!out.includes('\n')) await new Promise((r) => setTimeout(r, 20));
    const stat = () => sh(`stat -c %s '${b.mnt}/d/f'`);
    assert.equal((await stat()).stdout, '7\n');
    s.setJsOps(['read', 'getattr', 'lookup']);
    assert.equal((await stat()).stdout, '7\n');
    assert.equal(seen.length, 0, 'the kernel answered from its caches');
    assert.ok((await s.invalidate()) >= 3);
    assert.equal((await stat()).stdout, '7\n');
    assert.ok(seen.includes('lookup d') && seen.includes('lookup d/f'), seen.join());
    fs.writeFileSync(flag, '');
    await exited;
    assert.equal(out, 'cached\nInput/output error\n');
    assert.ok(seen.includes('read d/f'), seen.join());
  });

  it('with a read rule possible, files are opened direct_io (every read is seen) and can still be mapped', async function () {
    const b = box();
    let reads = 0;
    mount(b, { jsOps: ['read'], handlers: { call: (c) => void (c.op === 'read' && reads++) } });
    const r = await py(`import mmap,os
fd=os.open('${b.mnt}/hello',os.O_RDWR)
os.pread(fd,5,0); os.pread(fd,5,0)
m=mmap.mmap(fd,0,mmap.MAP_SHARED)
print(m[0:5].decode())`);
    // FUSE_DIRECT_IO_ALLOW_MMAP (negotiated by the binding): the mapping's page fault is a read too.
    assert.equal(r.stdout, 'hello\n', r.stderr);
    assert.ok(reads >= 3, `${reads} reads seen: two preads and the page fault`);
  });
});
