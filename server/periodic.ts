/**
 * A task run every `ms` milliseconds, never two at once: a run that outlasts the interval makes
 * the next tick a no-op. stop() clears the timer and waits for the run under way, if any.
 */
import type { Logger } from './log.ts';

export interface Periodic {
  stop(): Promise<void>;
}

export function every(ms: number, task: () => Promise<void>, log: Logger, what: string): Periodic {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = task()
      .catch((err: unknown) => log.error({ err }, `${what} failed`))
      .finally(() => { running = undefined; });
  }, ms);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
