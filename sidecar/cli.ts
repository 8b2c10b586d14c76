#!/usr/bin/env node
/**
 * `chaosfs`: the sidecar's command. `mount` runs one ChaosFS file system in the foreground; `ctl` sends
 * one control request (stdin) to a worker or the daemon and prints the reply (stdout).
 */
// The FUSE handlers do their backing I/O on libuv's thread pool; its default of 4 threads would cap
// concurrent calls (and delays must never serialize). Must be set before the pool starts.
process.env.UV_THREADPOOL_SIZE ??= '64';

// Each command loads only what it needs (the FUSE binding, zod, the daemon): `chaosfs ctl` runs once per
// plugin request and a worker start is on the injection's critical path.
import * as fs from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_CONTROL_SOCKET, DEFAULT_STATE_DIR, HEALTH_TIMEOUT_MS } from './api/names';
import { request, sendRaw } from './control/client';
import type { Rule } from './api/fault-spec';

function fail(message: string): never {
  process.stderr.write(`chaosfs: ${message}\n`);
  process.exit(1);
}

function readRules(file: string | undefined): Rule[] {
  if (!file) return [];
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return fail(`cannot read --rules ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail(`--rules ${file} is not valid JSON: ${(err as Error).message}`);
  }
  try {
    return (require('./api/fault-spec') as typeof import('./api/fault-spec')).parseRules(raw);
  } catch (err) {
    return fail(`--rules ${file}: ${(err as Error).message}`);
  }
}

async function mount(argv: { source: string; mountpoint: string; rules?: string; control?: string }) {
  const rules = readRules(argv.rules);
  for (const dir of [argv.source, argv.mountpoint]) {
    if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) fail(`${dir} is not a directory`);
  }
  const { ChaosFs } = require('./chaosfs/chaosfs') as typeof import('./chaosfs/chaosfs');
  const { workerHandler } = require('./chaosfs/control') as typeof import('./chaosfs/control');
  const { ControlServer } = require('./control/server') as typeof import('./control/server');
  const chaos = await ChaosFs.mount({ source: argv.source, mountpoint: argv.mountpoint, rules }).catch(
    (err) => fail((err as Error).message),
  );
  const control = argv.control ? await ControlServer.listen(argv.control, workerHandler(chaos)) : undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`chaosfs: ${signal}: unmounting ${argv.mountpoint}\n`);
    await control?.close();
    try {
      await chaos.unmount();
    } catch (err) {
      fail(`unmount of ${argv.mountpoint} failed: ${(err as Error).message}`);
    }
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.stderr.write(
    `chaosfs: mounted ${argv.source} at ${argv.mountpoint} with ${rules.length} rule(s)\n`,
  );
}

async function ctl(argv: { socket: string }) {
  const input = fs.readFileSync(0, 'utf8');
  if (input.trim() === '') fail('ctl reads one JSON request on stdin, e.g. {"op":"rules.list"}');
  const line = await sendRaw(argv.socket, input.trim()).catch((err) => fail((err as Error).message));
  process.stdout.write(line + '\n');
  try {
    if ((JSON.parse(line) as { ok?: boolean }).ok !== true) process.exit(1);
  } catch {
    fail(`unreadable reply from ${argv.socket}: ${line.slice(0, 200)}`);
  }
}

void yargs(hideBin(process.argv))
  .scriptName('chaosfs')
  .usage(
    '$0 <command>\n\nThe iochaos sidecar: a fault-injecting pass-through FUSE file system and its control.',
  )
  .command(
    'mount',
    'Mount ChaosFS over a source directory, in the foreground; SIGINT/SIGTERM unmount cleanly',
    (y) =>
      y
        .option('source', { type: 'string', demandOption: true, describe: 'the backing directory' })
        .option('mountpoint', { type: 'string', demandOption: true, describe: 'where to mount ChaosFS' })
        .option('rules', { type: 'string', describe: 'a JSON file with an array of rules (the fault spec)' })
        .option('control', { type: 'string', describe: 'a unix socket taking rule changes (chaosfs ctl)' })
        .example(
          '$0 mount --source /srv/data --mountpoint /mnt/data --rules rules.json',
          'rules.json: [{"action":"latency","delay":"10ms","percent":50,"methods":["read"]}]',
        ),
    (argv) => mount(argv),
  )
  .command(
    'ctl',
    'Send one control request (JSON on stdin) and print the reply; exits non-zero on an error reply',
    (y) =>
      y
        .option('socket', {
          type: 'string',
          default: process.env.IOCHAOS_SOCKET ?? DEFAULT_CONTROL_SOCKET,
          describe: 'the control socket (env IOCHAOS_SOCKET)',
        })
        .example(`echo '{"op":"rules.list"}' | $0 ctl --socket /run/chaosfs.sock`, 'list the active rules')
        .example(
          `echo '{"op":"rules.set","rules":[{"action":"fault","errno":"EIO","methods":["read"]}]}' | $0 ctl --socket S`,
          'make every read fail with EIO',
        ),
    (argv) => ctl(argv),
  )
  .command(
    'daemon',
    'Run the chaosfs daemon: injections into processes, recovered on expiry, SIGTERM and restart',
    (y) =>
      y
        .option('socket', { type: 'string', default: process.env.IOCHAOS_SOCKET ?? DEFAULT_CONTROL_SOCKET })
        .option('state-dir', {
          type: 'string',
          default: process.env.IOCHAOS_STATE_DIR ?? DEFAULT_STATE_DIR,
          describe: 'where the journal lives (an emptyDir in a pod): keep it across restarts',
        })
        .option('run-dir', {
          type: 'string',
          default: process.env.IOCHAOS_RUN_DIR ?? '/run/iochaos',
          describe: "worker sockets and staging mounts, in the daemon's own mount namespace",
        }),
    (argv) =>
      (require('./daemon/run') as typeof import('./daemon/run')).runDaemon({
        socket: argv.socket,
        stateDir: argv['state-dir'],
        runDir: argv['run-dir'],
      }),
  )
  .command(
    'health',
    'Exit 0 if the daemon answers on its socket (the sidecar readiness probe)',
    (y) =>
      y.option('socket', { type: 'string', default: process.env.IOCHAOS_SOCKET ?? DEFAULT_CONTROL_SOCKET }),
    async (argv) => {
      // Under the probe's timeoutSeconds (webhook/mutate.ts), so a daemon that does not answer is
      // reported as such instead of the kubelet killing a silent command.
      const reply = await request(argv.socket, { op: 'health' }, HEALTH_TIMEOUT_MS).catch((err: Error) =>
        fail(err.message),
      );
      if (!reply.ok) fail(reply.error.message);
      process.stdout.write('ok\n');
    },
  )
  .demandCommand(1, 'name a command: mount, ctl, daemon or health')
  .strict()
  .help()
  .parseAsync()
  .catch((err: Error) => fail(err.message));
