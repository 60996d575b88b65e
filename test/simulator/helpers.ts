/** Small helpers for the simulator tests: bounded waits and a raw UDP peer on loopback. */
import dgram from 'node:dgram';
import { generate, parse } from 'coap-packet';
import type { Packet, ParsedPacket } from 'coap-packet';

/** Rejects if `p` does not settle within `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` every 5 ms until it holds; throws after `ms`. */
export async function until(cond: () => boolean, ms: number, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not reached within ${ms} ms`);
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A bare UDP socket that speaks CoAP by hand, to play a misbehaving or scripted peer. */
export class RawPeer {
  readonly socket: dgram.Socket;
  readonly received: { msg: ParsedPacket; port: number; address: string }[] = [];
  #waiters: (() => void)[] = [];

  private constructor(socket: dgram.Socket) {
    this.socket = socket;
    socket.on('message', (buf, rinfo) => {
      try {
        this.received.push({ msg: parse(buf), port: rinfo.port, address: rinfo.address });
      } catch {
        return;
      }
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  static async open(): Promise<RawPeer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new RawPeer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Waits until `n` messages in total have arrived. */
  async waitFor(n: number, ms = 2000): Promise<ParsedPacket> {
    const end = Date.now() + ms;
    while (this.received.length < n) {
      if (Date.now() > end) throw new Error(`raw peer: ${this.received.length}/${n} messages within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 20);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    const last = this.received[n - 1];
    if (last === undefined) throw new Error('unreachable');
    return last.msg;
  }

  send(packet: Packet | Buffer, port: number): void {
    const buf = Buffer.isBuffer(packet) ? packet : generate(packet);
    this.socket.send(buf, port, '127.0.0.1');
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
