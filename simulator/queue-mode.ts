/**
 * LwM2M queue mode, the device's side (LwM2M 1.1 Transport §6.2.3 / Core §6.4): the radio sleeps
 * between exchanges. After the device sends anything it listens for a while (by default
 * MAX_TRANSMIT_WAIT, 93 s with the RFC 7252 defaults); outside that window incoming datagrams are
 * lost, so the server must wait for the device's next registration update to reach it.
 */
import type { Clock } from './clock.ts';
import type { Peer } from './coap/outbox.ts';
import type { DatagramTransport, TransportLayer } from './coap/transport.ts';

export interface QueueModeStats {
  /** Datagrams that arrived while the radio slept. */
  missed: number;
}

export function queueModeRadio(clock: Clock, awakeMs: number, stats: QueueModeStats = { missed: 0 }): TransportLayer {
  return (inner: DatagramTransport): DatagramTransport => {
    let awakeUntil = clock.now() + awakeMs;
    return {
      send(buf: Buffer, peer: Peer, done?: (err?: Error) => void): void {
        awakeUntil = clock.now() + awakeMs;
        inner.send(buf, peer, done);
      },
      onMessage(handler: (buf: Buffer, peer: Peer) => void): void {
        inner.onMessage((buf, peer) => {
          if (clock.now() > awakeUntil) {
            stats.missed += 1;
            return;
          }
          handler(buf, peer);
        });
      },
      address: () => inner.address(),
      close: () => inner.close(),
    };
  };
}
