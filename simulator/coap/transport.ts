/**
 * What the CoAP endpoint sends datagrams through: a UDP socket, or a layer wrapped around one
 * (the fault layer, a queue-mode device's radio, DTLS), so a test or a fault can stand in for the
 * network. The UDP socket can be swapped for a new one on another port (`rebind`): what a NAT in
 * front of the device does when its mapping expires, unseen by the layers above.
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

/** The bottom of the stack: a UDP socket that can move to a new source port. */
export interface UdpTransport extends DatagramTransport {
  /** Binds a new socket on the same address (a new port), moves the receiver to it and closes the old one. */
  rebind(): Promise<void>;
}

/** Wraps a transport (the fault layer, a sleeping radio). */
export type TransportLayer = (inner: DatagramTransport) => DatagramTransport;

async function openSocket(address: string, port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

const closeSocket = (socket: dgram.Socket): Promise<void> =>
  new Promise<void>((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });

/** A UDP socket bound on `address` (port 0 = any free one). */
export async function bindUdp(address: string, port = 0, onError?: (err: Error) => void): Promise<UdpTransport> {
  let socket = await openSocket(address, port);
  let handler: ((buf: Buffer, peer: Peer) => void) | undefined;
  let closed = false;
  const attach = (s: dgram.Socket): void => {
    s.on('error', (err) => onError?.(err));
    s.on('message', (buf, rinfo) => {
      if (s === socket) handler?.(buf, { address: rinfo.address, port: rinfo.port });
    });
  };
  attach(socket);
  return {
    send(buf, peer, done) {
      if (closed) {
        done?.(new Error('socket closed'));
        return;
      }
      try {
        socket.send(buf, peer.port, peer.address, (err) => done?.(err ?? undefined));
      } catch (err) {
        done?.(err instanceof Error ? err : new Error(String(err)));
      }
    },
    onMessage(h) {
      handler = h;
    },
    address() {
      const a = socket.address();
      return { address: a.address, port: a.port };
    },
    async rebind() {
      if (closed) return;
      const next = await openSocket(address, 0);
      if (closed) {
        await closeSocket(next);
        return;
      }
      const old = socket;
      socket = next;
      attach(next);
      await closeSocket(old);
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return closeSocket(socket);
    },
  };
}
