/**
 * Group concurrent writes into one transaction: items pushed while a flush runs go into the next
 * one. No added latency when idle (a lone item flushes on the next tick); under load, one round
 * trip serves many. Items with the same key never share a batch (one row, one change per batch).
 * A batch whose transaction fails is retried item by item, each in its own run, so one bad item
 * (say a value the database refuses) fails alone and the others are written.
 */
interface Pending<I, O> { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }

export class Batcher<I, O> {
  private readonly run: (items: I[]) => Promise<O[]>;
  private readonly key: (item: I) => string;
  private readonly maxItems: number;
  private readonly onBatchFailed: ((err: unknown, items: number) => void) | undefined;
  private queue: Array<Pending<I, O>> = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;

  constructor(run: (items: I[]) => Promise<O[]>, o: { key: (item: I) => string; maxItems?: number; onBatchFailed?: (err: unknown, items: number) => void }) {
    this.run = run;
    this.key = o.key;
    this.maxItems = o.maxItems ?? 500;
    this.onBatchFailed = o.onBatchFailed;
  }

  push(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves when everything pushed so far is written. */
  async drain(): Promise<void> {
    while (this.flushing || this.queue.length > 0 || this.scheduled) {
      await (this.flushing ?? new Promise((r) => setImmediate(r)));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flushing = this.flush().finally(() => {
        this.flushing = undefined;
        if (this.queue.length > 0) this.schedule();
      });
    });
  }

  private async flush(): Promise<void> {
    const batch: Array<Pending<I, O>> = [];
    const keys = new Set<string>();
    const rest: Array<Pending<I, O>> = [];
    for (const p of this.queue) {
      const k = this.key(p.item);
      if (batch.length < this.maxItems && !keys.has(k)) { keys.add(k); batch.push(p); } else rest.push(p);
    }
    this.queue = rest;
    try {
      const out = await this.run(batch.map((p) => p.item));
      batch.forEach((p, i) => p.resolve(out[i]!));
    } catch (err) {
      if (batch.length === 1) { batch[0]!.reject(err); return; }
      this.onBatchFailed?.(err, batch.length);
      for (const p of batch) {
        try {
          p.resolve((await this.run([p.item]))[0]!);
        } catch (itemErr) {
          p.reject(itemErr);
        }
      }
    }
  }
}
