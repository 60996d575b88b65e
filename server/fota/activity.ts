/**
 * When each device was last heard from, by the address and port it talks from: its registration
 * Updates, the firmware blocks it fetches and the blocks of a push it answers all count. The
 * update watchdog reads it (a device still talking is not timed out); the sockets and the
 * registrations service write it. One per process, made before either side.
 */
export class DeviceActivity {
  /** Last time (ms) heard, by "address:port". */
  readonly #at = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  heard(address: string, port: number): void {
    this.#at.set(`${address}:${port}`, this.#now());
  }

  /** Every device heard, by "address:port" → ms (read by the watchdog's decisions). */
  get byPeer(): ReadonlyMap<string, number> {
    return this.#at;
  }

  /** Forgets devices not heard since `horizon` (ms): their entries could only say "silent". */
  prune(horizon: number): void {
    for (const [peer, at] of this.#at) if (at < horizon) this.#at.delete(peer);
  }
}
