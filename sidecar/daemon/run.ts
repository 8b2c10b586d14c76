/** `chaosfs daemon`: recover what the journal says is still on, then serve the control socket. */
import { ControlServer } from '../control/server';
import { Daemon } from './daemon';
import { NativeSteps } from './native-steps';
import { hintAfterMs } from './effect';

export interface RunOptions {
  socket: string;
  stateDir: string;
  runDir: string;
}

function log(event: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), event, ...fields }) + '\n');
}

export async function runDaemon(opts: RunOptions): Promise<void> {
  // The daemon holds the app's file system: an unexpected error in one request must not take it down.
  process.on('uncaughtException', (err) => log('uncaught-exception', { error: err.stack ?? String(err) }));
  process.on('unhandledRejection', (err) => log('unhandled-rejection', { error: String(err) }));

  const daemon = new Daemon({
    stateDir: opts.stateDir,
    runDir: opts.runDir,
    steps: new NativeSteps(),
    log,
    hintAfterMs: hintAfterMs(),
  });
  const leftovers = await daemon.recoverLeftovers();
  if (leftovers > 0) log('recovered-leftovers', { count: leftovers });
  const server = await ControlServer.listen(opts.socket, (req) => daemon.handle(req));
  log('listening', { socket: opts.socket, pid: process.pid });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log('stopping', { signal, injections: daemon.injectionCount });
    await server.close();
    await daemon.shutdown();
    log('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
