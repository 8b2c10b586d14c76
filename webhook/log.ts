/** Structured JSON logs (pino), one line per event, to stdout unless a destination is given. */
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = 'info', destination?: DestinationStream): Logger {
  return pino(
    {
      name: 'iochaos-webhook',
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
