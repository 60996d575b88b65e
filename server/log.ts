import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(opts: { level?: string; destination?: number } = {}): Logger {
  return pino({ level: opts.level ?? 'info', base: { svc: 'ferry' } }, pino.destination(opts.destination ?? 1));
}

/** For tests and tools that want silence. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
