// A node-coap Server on a DtlsSocket bound to 127.0.0.1:0, and libcoap's DTLS clients run against it.
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { createSocket, type Socket } from 'node:dgram';
import { Server, type IncomingMessage, type OutgoingMessage } from 'coap';
import { DtlsSocket, type DtlsOptions } from '../../../server/dtls/socket.ts';

export const KEYS: ReadonlyMap<string, Buffer> = new Map([['id1', Buffer.from('secret1')], ['id2', Buffer.from('secret2')]]);

export interface TestServer {
  dtls: DtlsSocket;
  port: number;
  /** Every request the CoAP server got: its path and the PSK identity of its session. */
  requests: Array<{ url: string; identity: string | undefined }>;
  close(): Promise<void>;
}

export async function startServer(resources: Record<string, Buffer>, options: Partial<Omit<DtlsOptions, 'socket'>> = {}): Promise<TestServer> {
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const dtls = new DtlsSocket({ socket, pskFor: async (id) => KEYS.get(id.toString('utf8')), ...options });
  const requests: TestServer['requests'] = [];
  const server = new Server({ piggybackReplyMs: 50 });
  server.listen(dtls as unknown as Socket);
  server.on('request', (req: IncomingMessage, res: OutgoingMessage) => {
    const url = req.url ?? '';
    requests.push({ url, identity: dtls.identityOf(req.rsinfo.address, req.rsinfo.port)?.toString('utf8') });
    const body = resources[url];
    if (body === undefined) {
      res.code = '4.04';
      res.end();
      return;
    }
    res.end(body);
  });
  return {
    dtls, port: dtls.address().port, requests,
    // node-coap does not close a socket it was given: the DTLS layer (and its UDP socket) is closed after it.
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => dtls.close(() => resolve()));
    },
  };
}

export interface ClientRun {
  ok: boolean;
  stdout: Buffer;
  stderr: string;
}

/** Runs a libcoap client (its path checked first: a missing client fails the test, saying so). */
export async function coapClient(binary: 'coap-client-openssl' | 'coap-client-gnutls', args: string[], timeoutMs = 30_000): Promise<ClientRun> {
  const path = `/usr/bin/${binary}`;
  try {
    await access(path);
  } catch {
    throw new Error(`${path} is not installed: the DTLS interop tests need libcoap's ${binary}`);
  }
  return new Promise((resolve) => {
    execFile(path, args, { timeout: timeoutMs, encoding: 'buffer', maxBuffer: 1 << 22 }, (err, stdout, stderr) => {
      resolve({ ok: err === null, stdout, stderr: stderr.toString('utf8') });
    });
  });
}

export interface Relay {
  /** The port clients talk to. */
  port: number;
  close(): void;
}

/**
 * A relay on 127.0.0.1 between one client and the server at `serverPort`: each datagram goes on
 * unless a hook says otherwise. `toServer` may send extra datagrams ahead of the client's (`inject`);
 * `toClient` returning false loses the server's datagram.
 */
export async function startRelay(serverPort: number, hooks: {
  toServer?: (msg: Buffer, inject: (d: Buffer) => void) => void;
  toClient?: (msg: Buffer) => boolean;
}): Promise<Relay> {
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => back.bind(0, '127.0.0.1', resolve));
  const toServer = (d: Buffer): void => { back.send(d, serverPort, '127.0.0.1'); };
  let peer: { address: string; port: number } | undefined;
  front.on('message', (msg, rinfo) => {
    peer = rinfo;
    hooks.toServer?.(msg, toServer);
    toServer(msg);
  });
  back.on('message', (msg) => {
    if (peer && hooks.toClient?.(msg) !== false) front.send(msg, peer.port, peer.address);
  });
  return { port: front.address().port, close: () => { front.close(); back.close(); } };
}
