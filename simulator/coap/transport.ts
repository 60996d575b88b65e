/**
 * What the CoAP endpoint sends datagrams through: a UDP socket, or a layer wrapped around one
 * (the fault layer, a queue-mode device's radio), so a test or a fault can stand in for the network.
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { Peer } from './outbox.ts';

export interface DatagramTransport {
  /** Sends one datagram; `done` reports a send error (never thrown). */
  send(buf: Buffer, peer: Peer, done?: (err?: Error) => void): void;
  /** The one receiver of incoming datagrams. */
  onMessage(handler: (buf: Buffer, peer: Peer) => void): void;
  address(): Peer;
  close(): Promise<void>;
}

/** Wraps a transport (the fault layer, a sleeping radio). */
export type TransportLayer = (inner: DatagramTransport) => DatagramTransport;

/** A UDP socket bound on `address` (port 0 = any free one). */
export async function bindUdp(address: string, port = 0, onError?: (err: Error) => void): Promise<DatagramTransport> {
  const socket = dgram.createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', (err) => onError?.(err));
  let closed = false;
  return {
    send(buf, peer, done) {
      try {
        socket.send(buf, peer.port, peer.address, (err) => done?.(err ?? undefined));
      } catch (err) {
        done?.(err instanceof Error ? err : new Error(String(err)));
      }
    },
    onMessage(handler) {
      socket.on('message', (buf, rinfo) => handler(buf, { address: rinfo.address, port: rinfo.port }));
    },
    address() {
      const a = socket.address();
      return { address: a.address, port: a.port };
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise<void>((resolve) => {
        try {
          socket.close(() => resolve());
        } catch {
          resolve();
        }
      });
    },
  };
}
