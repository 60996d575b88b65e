/**
 * The server's log: pino, one JSON object a line (services, log collectors), or readable lines
 * (pino-pretty) for a person at a terminal: --log-format json|pretty, by default pretty when
 * stdout is a terminal.
 */
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The format when none is given: pretty on a terminal, JSON otherwise. */
export function defaultLogFormat(fd: number): LogFormat {
  const stream = fd === 2 ? process.stderr : process.stdout;
  return stream.isTTY ? 'pretty' : 'json';
}

/** pino-pretty, loaded only when asked for: a JSON log needs none of it. */
function prettyStream(fd: number, colorize: boolean): DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as (o: Record<string, unknown>) => DestinationStream;
  return pretty({ destination: fd, colorize, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,svc' });
}

export function createLogger(opts: { level?: string; destination?: number; format?: LogFormat | undefined } = {}): Logger {
  const fd = opts.destination ?? 1;
  const format = opts.format ?? defaultLogFormat(fd);
  const options = { level: opts.level ?? 'info', base: { svc: 'ferry' } };
  if (format === 'pretty') return pino(options, prettyStream(fd, (fd === 2 ? process.stderr : process.stdout).isTTY === true));
  return pino(options, pino.destination(fd));
}

/** For tests and tools that want silence. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
