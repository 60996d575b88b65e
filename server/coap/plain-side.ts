/**
 * Plain CoAP on a DTLS socket's port: a dgram.Socket look-alike fed with the datagrams the DTLS
 * layer found to be plain CoAP (its 'plain' event), sending through the same UDP socket unprotected.
 * Ferry uses it on the coaps LwM2M port (5684) for one thing: Package URIs written to devices when
 * that port was the plain download socket keep working (GET /fw/<id>, for updates already under way).
 */
import { EventEmitter } from 'node:events';
import { Socket, type RemoteInfo } from 'node:dgram';
import type { DtlsSocket } from '../dtls/socket.ts';

export class PlainSide extends EventEmitter {
  private readonly dtls: DtlsSocket;

  constructor(dtls: DtlsSocket) {
    super();
    this.dtls = dtls;
    dtls.on('plain', (msg: Buffer, rinfo: RemoteInfo) => this.emit('message', msg, rinfo));
    dtls.on('close', () => this.emit('close'));
  }

  address(): ReturnType<Socket['address']> {
    return this.dtls.socket.address();
  }

  /** send(msg, [offset, length,] port, address[, callback]): as is, on the shared UDP socket. */
  send(...args: unknown[]): void {
    (this.dtls.socket.send as (...a: unknown[]) => void)(...args);
  }

  /** The UDP socket belongs to the DTLS layer, which closes it. */
  close(callback?: () => void): void {
    if (callback) queueMicrotask(callback);
  }
}

// The guard keeps node-coap's expectations: a look-alike of dgram.Socket.
Object.setPrototypeOf(PlainSide.prototype, Socket.prototype);
