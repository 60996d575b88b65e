/**
 * The client's view of DTLS 1.2 handshake messages (RFC 6347 §4.2.2): the 12-byte header
 * (type, length, message_seq, fragment_offset, fragment_length), the ClientHello it writes, the
 * server messages it reads (HelloVerifyRequest, ServerHello, PSK ServerKeyExchange,
 * ServerHelloDone, Finished), and reassembly of fragmented messages.
 */

export const HandshakeType = {
  clientHello: 1,
  serverHello: 2,
  helloVerifyRequest: 3,
  serverKeyExchange: 12,
  serverHelloDone: 14,
  clientKeyExchange: 16,
  finished: 20,
} as const;

export const ExtensionType = {
  extendedMasterSecret: 23,
  connectionId: 54,
  renegotiationInfo: 0xff01,
} as const;

/** A whole handshake message, as hashed into the transcript (RFC 6347 §4.2.6: unfragmented). */
export function handshakeMessage(type: number, seq: number, body: Buffer): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt8(type, 0);
  h.writeUIntBE(body.length, 1, 3);
  h.writeUInt16BE(seq, 4);
  h.writeUIntBE(0, 6, 3);
  h.writeUIntBE(body.length, 9, 3);
  return Buffer.concat([h, body]);
}

const u8 = (n: number): Buffer => Buffer.from([n]);
const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const vec8 = (b: Buffer): Buffer => Buffer.concat([u8(b.length), b]);
const vec16 = (b: Buffer): Buffer => Buffer.concat([u16(b.length), b]);
const extension = (type: number, data: Buffer): Buffer => Buffer.concat([u16(type), vec16(data)]);

export interface ClientHelloParams {
  random: Buffer;
  cookie: Buffer;
  suites: readonly number[];
  /** Offer RFC 9146 connection_id with this (possibly empty) CID for records sent to us. */
  offerCid?: Buffer;
}

/** RFC 6347 §4.2.1 ClientHello body; session_id empty, compression null only. */
export function clientHelloBody(p: ClientHelloParams): Buffer {
  const exts = [
    extension(ExtensionType.extendedMasterSecret, Buffer.alloc(0)), // RFC 7627 §5.1
    extension(ExtensionType.renegotiationInfo, vec8(Buffer.alloc(0))), // RFC 5746 §3.4
  ];
  if (p.offerCid !== undefined) exts.push(extension(ExtensionType.connectionId, vec8(p.offerCid))); // RFC 9146 §3
  return Buffer.concat([
    u16(0xfefd),
    p.random,
    vec8(Buffer.alloc(0)),
    vec8(p.cookie),
    vec16(Buffer.concat(p.suites.map(u16))),
    vec8(Buffer.from([0])),
    vec16(Buffer.concat(exts)),
  ]);
}

/** A bounds-checked reader; every read throws RangeError past the end. */
export class Reader {
  #off = 0;
  readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  get left(): number {
    return this.buf.length - this.#off;
  }
  bytes(n: number): Buffer {
    if (n > this.left) throw new RangeError('handshake message truncated');
    const b = this.buf.subarray(this.#off, this.#off + n);
    this.#off += n;
    return b;
  }
  uint(n: number): number {
    return this.bytes(n).readUIntBE(0, n);
  }
  vec(lenBytes: number): Buffer {
    return this.bytes(this.uint(lenBytes));
  }
}

/** RFC 6347 §4.2.1: server_version, cookie<0..2^8-1>. */
export function readHelloVerifyRequest(body: Buffer): { cookie: Buffer } {
  const r = new Reader(body);
  r.uint(2);
  return { cookie: r.vec(1) };
}

export interface ServerHello {
  version: number;
  random: Buffer;
  suite: number;
  compression: number;
  extensions: Map<number, Buffer>;
}

export function readServerHello(body: Buffer): ServerHello {
  const r = new Reader(body);
  const version = r.uint(2);
  const random = r.bytes(32);
  r.vec(1); // session_id
  const suite = r.uint(2);
  const compression = r.uint(1);
  const extensions = new Map<number, Buffer>();
  if (r.left > 0) {
    const ext = new Reader(r.vec(2));
    while (ext.left > 0) {
      const type = ext.uint(2);
      extensions.set(type, ext.vec(2));
    }
  }
  return { version, random, suite, compression, extensions };
}

/** RFC 4279 §2: psk_identity_hint<0..2^16-1>. */
export const readPskServerKeyExchange = (body: Buffer): Buffer => new Reader(body).vec(2);

/** RFC 4279 §2: psk_identity<0..2^16-1>. */
export const pskClientKeyExchangeBody = (identity: Buffer): Buffer => vec16(identity);

interface Partial {
  type: number;
  body: Buffer;
  have: boolean[];
  filled: number;
}

/**
 * Reassembles handshake fragments (RFC 6347 §4.2.3) by message_seq; overlapping and repeated
 * fragments are fine. Returns each message once, when its last byte arrives.
 */
export class Reassembler {
  readonly #partial = new Map<number, Partial>();
  readonly #done = new Set<number>();

  /** Reads the handshake records' content; returns the messages completed by it. */
  push(content: Buffer): { type: number; seq: number; body: Buffer }[] {
    const out: { type: number; seq: number; body: Buffer }[] = [];
    let off = 0;
    while (off + 12 <= content.length) {
      const type = content.readUInt8(off);
      const length = content.readUIntBE(off + 1, 3);
      const seq = content.readUInt16BE(off + 4);
      const fragOff = content.readUIntBE(off + 6, 3);
      const fragLen = content.readUIntBE(off + 9, 3);
      const data = content.subarray(off + 12, off + 12 + fragLen);
      off += 12 + fragLen;
      if (data.length !== fragLen || fragOff + fragLen > length || this.#done.has(seq)) continue;
      let p = this.#partial.get(seq);
      if (p === undefined) {
        p = { type, body: Buffer.alloc(length), have: new Array<boolean>(length).fill(false), filled: 0 };
        this.#partial.set(seq, p);
      }
      if (p.type !== type || p.body.length !== length) continue;
      data.copy(p.body, fragOff);
      for (let i = fragOff; i < fragOff + fragLen; i += 1) {
        if (!p.have[i]) {
          p.have[i] = true;
          p.filled += 1;
        }
      }
      if (p.filled === length) {
        this.#partial.delete(seq);
        this.#done.add(seq);
        out.push({ type, seq, body: p.body });
      }
    }
    return out;
  }

  /** Forgets a completed message_seq (a HelloVerifyRequest may come again for a new ClientHello). */
  forget(seq: number): void {
    this.#done.delete(seq);
  }
}
