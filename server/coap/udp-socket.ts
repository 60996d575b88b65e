/**
 * The UDP socket under each of Ferry's CoAP servers (the LwM2M endpoint and the download socket),
 * made in one place: bound, its receive buffer enlarged, and the guard (guard.ts) in front of it.
 * A stack is handed the guard, a dgram.Socket look-alike whose prototype is dgram.Socket's (node-coap
 * keeps its duplicate-answer cache and sends its error answers only on a real Socket), so whatever
 * must see every datagram between the kernel and a stack is put in here, once for both sockets.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { DtlsSocket, type DtlsOptions } from '../dtls/socket.ts';
import { GuardedSocket, type GuardOptions } from './guard.ts';

/**
 * The receive buffer asked of the kernel (Linux caps it at net.core.rmem_max). The Linux default
 * (~208 KiB) holds a few hundred small datagrams: a fleet re-registering after an outage, or
 * thousands of downloaders' block requests at once, overflow it, and each datagram lost costs its
 * device a CoAP retransmission (2–3 s, RFC 7252 §4.8).
 */
export const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

export interface UdpListenOptions extends Omit<GuardOptions, 'socket'> {
  /** An IP address; IPv6 makes a udp6 socket. */
  host: string;
  /** 0: any free port. */
  port: number;
  /**
   * Every datagram goes to an IP address (a responder answers rinfo.address): skip dns.lookup and
   * its nextTick per datagram sent. Off for a socket that may be asked to send to a host name.
   */
  addressesOnly?: boolean;
}

/** The DTLS layer of a coaps socket (server/dtls/socket.ts), without the socket it is given. */
export type DtlsLayerOptions = Omit<DtlsOptions, 'socket'>;

/**
 * Binds host:port, enlarges the receive buffer and puts the guard in front; rejects when the bind
 * fails. With `dtls`, the DTLS layer sits between the socket and the guard: the guard (and the CoAP
 * stack behind it) sees the plaintext of each session's records, from the session's address.
 */
export async function listenUdp(o: UdpListenOptions & { dtls?: DtlsLayerOptions }): Promise<GuardedSocket> {
  const { host, port, addressesOnly, dtls, ...guard } = o;
  const socket = await bind(host, port, addressesOnly === true);
  try {
    socket.setRecvBufferSize(RECEIVE_BUFFER_BYTES);
  } catch (err) {
    o.log.warn({ err, socket: o.name }, 'could not enlarge the receive buffer');
  }
  o.log.debug({ socket: o.name, bytes: socket.getRecvBufferSize() }, 'receive buffer');
  if (dtls === undefined) return new GuardedSocket({ ...guard, socket });
  const layer = new DtlsSocket({ ...dtls, socket });
  // A completed handshake (its cookie exchange included) proves the peer receives what we send.
  layer.on('session', (s: { address: string }) => o.proof.prove(s.address));
  return new GuardedSocket({ ...guard, socket: layer as unknown as Socket });
}

/** The DTLS layer under a guard listenUdp made with `dtls`; undefined for a plain socket. */
export function dtlsOf(guard: GuardedSocket): DtlsSocket | undefined {
  return guard.socket instanceof DtlsSocket ? guard.socket : undefined;
}

async function bind(host: string, port: number, addressesOnly: boolean): Promise<Socket> {
  const family = isIPv6(host) ? 6 : 4;
  const type = family === 6 ? 'udp6' : 'udp4';
  const socket = addressesOnly
    ? createSocket({ type, lookup: (address, _family, callback) => callback(null, address, family) })
    : createSocket({ type });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => { socket.off('error', reject); resolve(); });
  });
  return socket;
}
