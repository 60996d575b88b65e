/**
 * The datagram mutator of the DTLS socket fuzzer (sockets-dtls.ts): pure functions of a seeded
 * PRNG that take valid DTLS 1.2 flights (a real handshake's, captured by sockets-dtls-peer.ts) and
 * break them at every layer RFC 6347 gives them:
 *
 * - records (§4.1): content type (every value, tls12_cid 25 of RFC 9146 included), version,
 *   epoch, 48-bit sequence number (0, the top, replays, just behind and far past the replay
 *   window), length against the bytes that follow, several records a datagram, trailing garbage;
 * - handshake fragments (§4.2.2, §4.2.3): msg_type, length, message_seq, fragment_offset and
 *   fragment_length, a message cut into overlapping, partial, repeated, out-of-order or
 *   inconsistent pieces;
 * - the ClientHello body (§4.2.1, RFC 5246 §7.4.1.2) as fields: version, session_id, cookie
 *   (bytes and length), cipher_suites (odd lengths, none we take, thousands), compression_methods,
 *   extensions (truncated, repeated, oversized, RFC 9146 connection_id 54 with odd lengths,
 *   extended_master_secret with data, renegotiation_info not empty);
 * - the PSK ClientKeyExchange (RFC 4279 §2): identities empty, long, with NUL or non-UTF-8
 *   bytes, their length field short, long or cut;
 * - protected records: alerts of every level and description, ChangeCipherSpec at any time,
 *   ciphertext bit flips, truncations, a tag cut off.
 *
 * Nothing here touches a socket or a clock: one seed gives one sequence of choices.
 */
import { Rng } from './sockets-mutate.ts';

export { Rng };

export const CT = { ccs: 20, alert: 21, handshake: 22, appData: 23, cid: 25 } as const;
export const HT = { clientHello: 1, serverHello: 2, helloVerifyRequest: 3, serverKeyExchange: 12, serverHelloDone: 14, clientKeyExchange: 16, finished: 20 } as const;
export const MAX_SEQ = 2 ** 48 - 1;

// ── raw records and handshake fragments, any field out of range ──

export interface RawRecord {
  type: number;
  version: number;
  epoch: number;
  seq: number;
  fragment: Buffer;
  /** The length field when it is not the fragment's length. */
  length?: number;
  /** Bytes between the sequence number and the length (a CID, or garbage where one is not expected). */
  cid?: Buffer;
}

export function encodeRaw(r: RawRecord): Buffer {
  const cid = r.cid ?? Buffer.alloc(0);
  const head = Buffer.alloc(13 + cid.length);
  head[0] = r.type & 0xff;
  head.writeUInt16BE(r.version & 0xffff, 1);
  head.writeUInt16BE(r.epoch & 0xffff, 3);
  head.writeUIntBE(Math.min(Math.max(0, Math.floor(r.seq)), MAX_SEQ), 5, 6);
  cid.copy(head, 11);
  head.writeUInt16BE((r.length ?? r.fragment.length) & 0xffff, 11 + cid.length);
  return Buffer.concat([head, r.fragment]);
}

/**
 * The records of a datagram; a tls12_cid record's CID is `cidLength` bytes (RFC 9146 §4: the
 * receiver knows it). A tail that does not parse is dropped.
 */
export function splitRaw(datagram: Buffer, cidLength = 0): RawRecord[] {
  const out: RawRecord[] = [];
  let off = 0;
  while (off + 13 <= datagram.length) {
    const c = datagram[off] === CT.cid ? cidLength : 0;
    if (off + 13 + c > datagram.length) break;
    const length = datagram.readUInt16BE(off + 11 + c);
    const start = off + 13 + c;
    if (start + length > datagram.length) break;
    out.push({
      type: datagram[off]!, version: datagram.readUInt16BE(off + 1), epoch: datagram.readUInt16BE(off + 3), seq: datagram.readUIntBE(off + 5, 6),
      ...(c > 0 ? { cid: datagram.subarray(off + 11, off + 11 + c) } : {}), fragment: datagram.subarray(start, start + length),
    });
    off = start + length;
  }
  return out;
}

export interface RawFragment {
  msgType: number;
  /** The whole message's length. */
  length: number;
  messageSeq: number;
  offset: number;
  /** The fragment_length field (the body's length unless a mutation says otherwise). */
  fragmentLength: number;
  body: Buffer;
}

export function encodeFragment(f: RawFragment): Buffer {
  const h = Buffer.alloc(12);
  h[0] = f.msgType & 0xff;
  h.writeUIntBE(f.length & 0xffffff, 1, 3);
  h.writeUInt16BE(f.messageSeq & 0xffff, 4);
  h.writeUIntBE(f.offset & 0xffffff, 6, 3);
  h.writeUIntBE(f.fragmentLength & 0xffffff, 9, 3);
  return Buffer.concat([h, f.body]);
}

/** A whole message as one fragment (also its bytes in the handshake hash, RFC 6347 §4.2.6). */
export function wholeMessage(msgType: number, messageSeq: number, body: Buffer): Buffer {
  return encodeFragment({ msgType, length: body.length, messageSeq, offset: 0, fragmentLength: body.length, body });
}

export function parseFragments(content: Buffer): RawFragment[] {
  const out: RawFragment[] = [];
  let off = 0;
  while (off + 12 <= content.length) {
    const fragmentLength = content.readUIntBE(off + 9, 3);
    const body = content.subarray(off + 12, off + 12 + fragmentLength);
    out.push({ msgType: content[off]!, length: content.readUIntBE(off + 1, 3), messageSeq: content.readUInt16BE(off + 4), offset: content.readUIntBE(off + 6, 3), fragmentLength, body });
    off += 12 + fragmentLength;
  }
  return out;
}

// ── the ClientHello as fields ──

export interface Ext {
  type: number;
  data: Buffer;
  /** The extension's length field when it is not data's length. */
  length?: number;
}

export interface HelloDraft {
  version: number;
  random: Buffer;
  sessionId: Buffer;
  cookie: Buffer;
  /** The cookie's length byte when it is not the cookie's length. */
  cookieLength?: number;
  suites: number[];
  /** Bytes of the cipher_suites vector when not 2 × suites (an odd length). */
  suitesLength?: number;
  compression: number[];
  /** Undefined: no extensions block at all. */
  extensions?: Ext[];
  extensionsLength?: number;
  /** Bytes after the extensions. */
  trailing?: Buffer;
}

export const SUITE = { CCM_8: 0xc0a8, CCM: 0xc0a4, SCSV: 0x00ff } as const;
export const EXT = { ems: 23, cid: 54, reneg: 0xff01 } as const;

/** What the simulator's client sends (simulator/dtls/handshake.ts), as fields; with `offerCid`, RFC 9146 connection_id asking for that CID. */
export function genuineHello(random: Buffer, cookie: Buffer = Buffer.alloc(0), offerCid?: Buffer): HelloDraft {
  const extensions: Ext[] = [{ type: EXT.ems, data: Buffer.alloc(0) }, { type: EXT.reneg, data: Buffer.from([0]) }];
  if (offerCid !== undefined) extensions.push({ type: EXT.cid, data: Buffer.concat([Buffer.from([offerCid.length]), offerCid]) });
  return { version: 0xfefd, random, sessionId: Buffer.alloc(0), cookie, suites: [SUITE.CCM_8, SUITE.CCM], compression: [0], extensions };
}

/** The CID a ServerHello body gives in its connection_id extension (RFC 9146 §3), if it has one. */
export function serverHelloCid(body: Buffer): Buffer | undefined {
  let off = 2 + 32;
  if (body.length < off + 1) return undefined;
  off += 1 + body[off]! + 3; // session_id, cipher_suite, compression_method
  if (body.length < off + 2) return undefined;
  const end = Math.min(body.length, off + 2 + body.readUInt16BE(off));
  off += 2;
  while (off + 4 <= end) {
    const type = body.readUInt16BE(off);
    const len = body.readUInt16BE(off + 2);
    const data = body.subarray(off + 4, off + 4 + len);
    if (type === EXT.cid && data.length >= 1) return Buffer.from(data.subarray(1, 1 + data[0]!));
    off += 4 + len;
  }
  return undefined;
}

const u16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(n & 0xffff); return b; };

export function encodeHello(h: HelloDraft): Buffer {
  const parts: Buffer[] = [u16(h.version), h.random, Buffer.from([h.sessionId.length & 0xff]), h.sessionId,
    Buffer.from([(h.cookieLength ?? h.cookie.length) & 0xff]), h.cookie,
    u16(h.suitesLength ?? h.suites.length * 2), ...h.suites.map(u16),
    Buffer.from([h.compression.length & 0xff]), Buffer.from(h.compression.map((c) => c & 0xff))];
  if (h.extensions) {
    const exts = Buffer.concat(h.extensions.map((e) => Buffer.concat([u16(e.type), u16(e.length ?? e.data.length), e.data])));
    parts.push(u16(h.extensionsLength ?? exts.length), exts);
  }
  if (h.trailing) parts.push(h.trailing);
  return Buffer.concat(parts);
}

/** The CID a hello asks for in a well-formed connection_id extension (RFC 9146 §3), if it offers one. */
export function offersCid(h: HelloDraft): Buffer | undefined {
  const e = (h.extensions ?? []).find((x) => x.type === EXT.cid && x.length === undefined);
  return e !== undefined && e.data.length >= 1 && e.data.length === 1 + e.data[0]! ? e.data.subarray(1) : undefined;
}

/** Whether the server, if it takes this hello, derives its master secret the RFC 7627 way. */
export function offersEms(h: HelloDraft): boolean {
  return (h.extensions ?? []).some((e) => e.type === EXT.ems && e.data.length === 0 && e.length === undefined);
}

const SEQ_EDGES = [0, 1, 2, 63, 64, 65, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, 2 ** 47, MAX_SEQ - 64, MAX_SEQ - 3, MAX_SEQ - 1, MAX_SEQ];

/** A sequence number near `current`: a replay, just behind or far past the window, an edge. */
export function seqNear(r: Rng, current: number): number {
  switch (r.int(6)) {
    case 0: return Math.max(0, current - 1 - r.int(3)); // a replay
    case 1: return Math.max(0, current - r.range(60, 70)); // at the left edge of a 64-record window
    case 2: return Math.min(MAX_SEQ, current + r.range(1, 200)); // ahead
    case 3: return Math.min(MAX_SEQ, current + 2 ** r.range(10, 47)); // far future
    case 4: return r.pick(SEQ_EDGES);
    default: return r.int(0x1_0000_0000) * 0x10000 + r.int(0x10000); // any uint48
  }
}

/** The ClientHello fields broken in one to three ways. */
export function mutateHello(r: Rng, h: HelloDraft): HelloDraft {
  const d: HelloDraft = { ...h, suites: [...h.suites], compression: [...h.compression], ...(h.extensions ? { extensions: h.extensions.map((e) => ({ ...e })) } : {}) };
  for (let n = r.range(1, 3); n > 0; n--) {
    switch (r.int(19)) {
      case 0: d.version = r.pick([0xfeff, 0xfefc, 0xfe00, 0x0303, 0xfefe, 0x0000, 0xffff, r.int(0x10000)]); break;
      case 1: d.sessionId = r.bytes(r.pick([1, 16, 32, 33, 255])); break;
      case 2: d.cookie = r.pick([r.bytes(16), r.bytes(r.range(1, 40)), r.bytes(255), Buffer.alloc(16)]); break;
      case 3: d.cookieLength = r.pick([0, 1, 15, 17, 255, d.cookie.length + 1]); break;
      case 4: if (d.cookie.length > 0) { const c = Buffer.from(d.cookie); c[r.int(c.length)]! ^= 1 << r.int(8); d.cookie = c; } break;
      case 5: d.suites = r.pick([[], [0x00ae], [SUITE.SCSV], [SUITE.CCM], [SUITE.CCM_8], [SUITE.SCSV, SUITE.CCM_8], Array.from({ length: r.range(100, 2000) }, () => r.int(0x10000))]); break;
      case 6: d.suitesLength = r.pick([0, 1, 3, d.suites.length * 2 + 1, d.suites.length * 2 + 2, 0xfffe, 0xffff]); break;
      case 7: d.compression = r.pick([[], [1], [0, 1], [1, 0], Array.from({ length: 255 }, (_, i) => i), [0, 0]]); break;
      case 8: delete d.extensions; break;
      case 9: { const all = d.extensions?.length ? d.extensions : [{ type: EXT.ems, data: Buffer.alloc(0) }]; d.extensions = [...all, { ...r.pick(all) }]; break; } // repeated
      case 10: d.extensions = [...(d.extensions ?? []), { type: EXT.cid, data: cidExtension(r) }]; break;
      case 11: d.extensions = [...(d.extensions ?? []), { type: r.pick([EXT.ems, EXT.reneg, EXT.cid, 0, 10, 13, 35, 0xffff, r.int(0x10000)]), data: r.bytes(r.pick([0, 1, 2, 255, 256, 4000])) }]; break;
      case 12: if (d.extensions?.length) r.pick(d.extensions).length = r.pick([0, 1, 0xffff, r.pick(d.extensions).data.length + 1]); break;
      case 13: d.extensionsLength = r.pick([0, 1, 2, 3, 0xffff, encodeHello({ ...d, trailing: undefined }).length]); break;
      case 14: d.trailing = r.bytes(r.range(1, 8)); break;
      case 15: d.extensions = (d.extensions ?? []).map((e) => (e.type === EXT.reneg ? { ...e, data: r.pick([Buffer.from([1, 0]), Buffer.from([12, ...r.bytes(12)]), Buffer.alloc(0)]) } : e)); break;
      case 16: d.extensions = (d.extensions ?? []).map((e) => (e.type === EXT.ems ? { ...e, data: r.bytes(r.range(1, 4)) } : e)); break;
      case 17: d.extensions = (d.extensions ?? []).filter(() => r.chance(0.5)); break;
      default: d.extensions = Array.from({ length: r.range(20, 300) }, () => ({ type: r.int(0x10000), data: r.bytes(r.int(4)) })); break;
    }
  }
  return d;
}

/** RFC 9146 §3 ConnectionId extension data: cid<0..2^8-1>, as sent and as broken. */
function cidExtension(r: Rng): Buffer {
  switch (r.int(6)) {
    case 0: return Buffer.from([0]);
    case 1: return Buffer.concat([Buffer.from([4]), r.bytes(4)]);
    case 2: return Buffer.alloc(0); // no length byte
    case 3: return Buffer.concat([Buffer.from([8]), r.bytes(3)]); // length past the end
    case 4: return Buffer.concat([Buffer.from([2]), r.bytes(5)]); // bytes after the CID
    default: return Buffer.concat([Buffer.from([255]), r.bytes(255)]);
  }
}

/** A PSK ClientKeyExchange body (RFC 4279 §2: psk_identity<0..2^16-1>) for `identity`, maybe broken. */
export function ckeBody(r: Rng, identity: Buffer, broken: boolean): Buffer {
  const id = !broken ? identity : r.pick([
    Buffer.alloc(0), Buffer.from('fuzz-unknown'), Buffer.concat([identity, Buffer.from([0])]), Buffer.from([0x66, 0, 0x67]),
    Buffer.from([0xff, 0xfe, 0xc3]), Buffer.alloc(129, 0x61), Buffer.alloc(2000, 0x7a), Buffer.from('fuzz id'), Buffer.from("f'; --"), identity.subarray(0, 1),
  ]);
  const body = Buffer.concat([u16(id.length), id]);
  if (!broken || r.chance(0.6)) return body;
  switch (r.int(4)) {
    case 0: return body.subarray(0, r.int(body.length)); // cut
    case 1: { const b = Buffer.from(body); b.writeUInt16BE(id.length + r.range(1, 300), 0); return b; } // longer than sent
    case 2: { const b = Buffer.from(body); b.writeUInt16BE(Math.max(0, id.length - r.range(1, 5)), 0); return b; } // bytes left over
    default: return Buffer.concat([body, r.bytes(r.range(1, 16))]);
  }
}

/**
 * A handshake message cut into fragments (RFC 6347 §4.2.3): in order, reversed, shuffled,
 * overlapping, with one repeated, one missing, or one whose bytes differ from another's.
 */
export function fragmentMessage(r: Rng, msgType: number, messageSeq: number, body: Buffer): RawFragment[] {
  const n = Math.max(1, Math.min(body.length, r.range(2, 5)));
  const cuts = [0, ...Array.from({ length: n - 1 }, () => r.int(body.length + 1)).sort((a, b) => a - b), body.length];
  let frags: RawFragment[] = [];
  for (let i = 0; i < cuts.length - 1; i++) {
    // Overlap: a piece may start a few bytes before the previous one ended.
    const start = r.chance(0.25) ? Math.max(0, cuts[i]! - r.range(1, 4)) : cuts[i]!;
    const piece = body.subarray(start, cuts[i + 1]!);
    frags.push({ msgType, length: body.length, messageSeq, offset: start, fragmentLength: piece.length, body: piece });
  }
  switch (r.int(7)) {
    case 0: frags.reverse(); break;
    case 1: frags = shuffle(r, frags); break;
    case 2: frags.push(r.pick(frags)); break;
    case 3: if (frags.length > 1) frags.splice(r.int(frags.length), 1); break; // partial
    case 4: { const f = r.pick(frags); if (f.body.length > 0) { const b = Buffer.from(f.body); b[r.int(b.length)]! ^= 0x80; frags.push({ ...f, body: b }); } break; } // inconsistent
    case 5: { const f = r.pick(frags); frags.push({ ...f, length: f.length + r.range(1, 100) }); break; } // length disagrees
    default: break;
  }
  return frags;
}

function shuffle<T>(r: Rng, xs: T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** One handshake fragment's header broken. */
export function mutateFragmentHeader(r: Rng, f: RawFragment): RawFragment {
  const g = { ...f };
  switch (r.int(8)) {
    case 0: g.msgType = r.pick([0, 1, 2, 3, 11, 12, 13, 14, 15, 16, 20, 21, 255, r.int(256)]); break;
    case 1: g.length = r.pick([0, 1, f.length - 1, f.length + 1, 0xffffff, 16 * 1024, 16 * 1024 + 1, r.int(0x1000000)]); break;
    case 2: g.messageSeq = r.pick([0, 1, 2, 3, 4, 0xfffb, 0xfffc, 0xfffd, 0xfffe, 0xffff, r.int(0x10000)]); break;
    case 3: g.offset = r.pick([1, f.length, f.length + 1, 0xffffff, r.int(0x1000000)]); break;
    case 4: g.fragmentLength = r.pick([0, f.body.length - 1, f.body.length + 1, 0xffffff]); break;
    case 5: g.body = f.body.subarray(0, r.int(f.body.length + 1)); g.fragmentLength = g.body.length; break; // partial, header says so
    case 6: g.length = f.length + r.range(1, 64); break; // a piece of a longer message
    default: g.offset = Math.max(0, f.length - r.range(0, 8)); g.body = f.body.subarray(0, Math.min(f.body.length, f.length - g.offset)); g.fragmentLength = g.body.length; break;
  }
  return g;
}

/** A record's header broken in one field. */
export function mutateRecordHeader(r: Rng, rec: RawRecord): RawRecord {
  const m = { ...rec };
  switch (r.int(7)) {
    case 0: m.type = r.pick([0, 19, 20, 21, 22, 23, 24, CT.cid, 26, 255, r.int(256)]); break;
    case 1: m.version = r.pick([0xfefd, 0xfeff, 0xfefc, 0xfefe, 0x0303, 0x0301, 0x0000, 0xffff, r.int(0x10000)]); break;
    case 2: m.epoch = r.pick([0, 1, 2, 0x7fff, 0xffff, r.int(0x10000)]); break;
    case 3: m.seq = seqNear(r, rec.seq); break;
    case 4: m.length = r.pick([0, Math.max(0, rec.fragment.length - 1), rec.fragment.length + 1, 0xffff, 2 ** 14, 2 ** 14 + 1, 2 ** 14 + 2049, r.int(0x10000)]); break;
    case 5: m.type = CT.cid; m.cid = r.bytes(r.pick([0, 1, 4, 8])); m.epoch = r.pick([0, 1, 1, 2]); break; // RFC 9146 §4 form, not negotiated
    default: m.fragment = rec.fragment.subarray(0, r.int(rec.fragment.length + 1)); break;
  }
  return m;
}

/** Bytes broken without regard to structure: flips, cuts, insertions, garbage after. */
export function mutateBytes(r: Rng, b: Buffer): Buffer {
  let out = Buffer.from(b);
  for (let n = r.range(1, 3); n > 0; n--) {
    switch (r.int(6)) {
      case 0: if (out.length > 0) out[r.int(out.length)]! ^= 1 << r.int(8); break;
      case 1: out = out.subarray(0, r.int(out.length + 1)); break;
      case 2: { const at = r.int(out.length + 1); out = Buffer.concat([out.subarray(0, at), r.bytes(r.range(1, 16)), out.subarray(at)]); break; }
      case 3: out = Buffer.concat([out, r.pick([r.bytes(r.range(1, 12)), Buffer.alloc(r.range(1, 40)), Buffer.from([0x16, 0xfe, 0xfd])])]); break; // trailing garbage
      case 4: if (out.length > 1) { const at = r.int(out.length - 1); out[at] = r.pick([0, 0xff, 0x7f, 0x80]); } break;
      default: if (out.length > 13) { const at = r.int(out.length); out = Buffer.concat([out.subarray(0, at), out.subarray(at + r.range(1, 8))]); } break;
    }
  }
  return out;
}

/** An alert's two bytes (RFC 5246 §7.2), every level and description, sometimes the wrong size. */
export function alertContent(r: Rng): Buffer {
  const level = r.pick([1, 2, 1, 2, 0, 3, 255]);
  const desc = r.pick([0, 10, 20, 21, 22, 40, 42, 47, 50, 51, 70, 71, 80, 90, 100, 110, 115, r.int(256)]);
  return r.pick([Buffer.from([level, desc]), Buffer.from([level, desc]), Buffer.from([level, desc]), Buffer.alloc(0), Buffer.from([level]), Buffer.from([level, desc, 0])]);
}

/** A ChangeCipherSpec's content: 1, or something else. */
export function ccsContent(r: Rng): Buffer {
  return r.pick([Buffer.from([1]), Buffer.from([1]), Buffer.from([0]), Buffer.from([2]), Buffer.alloc(0), Buffer.from([1, 1])]);
}
