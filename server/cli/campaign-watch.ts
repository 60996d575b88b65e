/**
 * `ferry campaign watch ID`: the campaign's progress every second until it ends, as a progress bar
 * per wave (cli-progress) on a terminal, else a line each time the progress changes. Exit 0
 * completed, 1 aborted, 3 paused (by hand or by its failure threshold).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MultiBar, SingleBar } from 'cli-progress';
import type { Ctx } from './command.ts';

type Counts = Record<'pending' | 'claimed' | 'in_progress' | 'succeeded' | 'failed' | 'skipped' | 'cancelled' | 'deferred', number>;

/** GET /api/v1/campaigns/:id, what is shown of it. */
export interface Progress {
  id: number; name: string; state: string; firmwareId: number; currentWave: number; pauseReason: string | null;
  waves: Array<{ wave: number; devices: number; counts: Counts }>;
  counts: Counts & { total: number };
}

/** A campaign in one of these states has ended, for watch: the exit code. */
export const WATCH_EXIT: Readonly<Record<string, number>> = { completed: 0, aborted: 1, paused: 3 };

const REFRESH_MS = 1000;

const done = (c: Counts): number => c.succeeded + c.failed + c.skipped + c.cancelled;
const detail = (c: Counts): string => `succeeded ${c.succeeded}, failed ${c.failed}${c.skipped ? `, skipped ${c.skipped}` : ''}${c.cancelled ? `, cancelled ${c.cancelled}` : ''}${c.in_progress ? `, in progress ${c.in_progress}` : ''}`;
const status = (p: Progress): string => `campaign ${p.id} (${p.name}): ${p.state}, wave ${p.currentWave}/${p.waves.length}${p.pauseReason ? ` (${p.pauseReason})` : ''}`;

/** The campaign and its waves, a line each (ferry campaign show). */
export function progressText(p: Progress): string {
  const waves = p.waves.map((w) => `  wave ${w.wave}: ${done(w.counts)}/${w.devices} done (${detail(w.counts)})`);
  return `${status(p)}, firmware ${p.firmwareId}\n${waves.join('\n')}\n  all: ${done(p.counts)}/${p.counts.total} done (${detail(p.counts)})\n`;
}

/** One line of the progress (what changes is printed when there is no terminal). */
const changeLine = (p: Progress): string => `${status(p)}; ${p.waves.map((w) => `wave ${w.wave} ${done(w.counts)}/${w.devices}`).join(', ')}; ${detail(p.counts)}`;

/** A bar per wave under the campaign's status line. */
class Bars {
  private readonly multi: MultiBar;
  private readonly head: SingleBar;
  private readonly waves: SingleBar[];

  constructor(cli: typeof import('cli-progress'), p: Progress) {
    this.multi = new cli.MultiBar({ stream: process.stdout, hideCursor: true, format: ' wave {wave} |{bar}| {done}/{devices}  {detail}', barsize: 30 }, cli.Presets.shades_classic);
    this.head = this.multi.create(1, 0, { status: status(p) }, { format: '{status}' });
    this.waves = p.waves.map((w) => this.multi.create(1, 0, { wave: w.wave }));
    this.update(p);
  }

  update(p: Progress): void {
    this.head.update({ status: status(p) });
    p.waves.forEach((w, i) => {
      // A wave of no device is shown full: nothing is left to do in it.
      this.waves[i]?.setTotal(Math.max(w.devices, 1));
      this.waves[i]?.update(w.devices === 0 ? 1 : done(w.counts), { done: done(w.counts), devices: w.devices, detail: detail(w.counts) });
    });
  }

  stop(): void { this.multi.stop(); }
}

export async function watchCampaign(c: Ctx, id: number): Promise<number> {
  const api = c.api();
  const path = `/api/v1/campaigns/${id}`;
  let bars: Bars | undefined;
  let last = '';
  try {
    for (;;) {
      const p = await api.get<Progress>(path);
      if (c.io.tty && !c.json) {
        if (bars === undefined) bars = new Bars((await import('cli-progress')).default, p);
        else bars.update(p);
      } else {
        const line = c.json ? JSON.stringify(p) : changeLine(p);
        if (line !== last) c.io.out(`${line}\n`);
        last = line;
      }
      const code = WATCH_EXIT[p.state];
      if (code !== undefined) return code;
      await sleep(REFRESH_MS);
    }
  } finally {
    bars?.stop();
  }
}
