/** A pino logger whose lines are kept in memory as objects, for tests that assert what was logged. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../server/log.ts';

export interface RecordedLog {
  log: Logger;
  lines: Array<Record<string, unknown> & { msg?: string }>;
}

export function recordingLogger(level = 'info'): RecordedLog {
  const lines: RecordedLog['lines'] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as RecordedLog['lines'][number]);
      done();
    },
  });
  return { log: pino({ level }, sink), lines };
}
