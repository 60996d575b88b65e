/**
 * The datagram mutator of the socket fuzzers (sockets.ts): a seeded PRNG, CoAP messages built from
 * valid templates — Register, Update, De-register (LwM2M Transport §6.2), GET /fw with Block2
 * (RFC 7959), Block1 Register bodies, Observe (RFC 7641), empty ACK and RST, ping (RFC 7252 §4.3),
 * an answer to a request of the server's — and mutations of the message (header fields, token
 * length 0–15 with and without its bytes, options added, repeated, dropped or given boundary
 * values, unknown critical options, payload markers) and of its bytes (option nibbles 13/14/15,
 * extended forms, lengths past the end, truncation, bit flips, insertions). One seed gives one
 * sequence of datagrams; only what the server told the fuzzer (a registration id, an Echo, its
 * own requests) varies from run to run, and it is used only where the template asks for it.
 */

/** sfc32, seeded through splitmix32: fast, small state, good enough for fuzzing. */
export class Rng {
  private a: number; private b: number; private c: number; private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const split = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split(); this.b = split(); this.c = split(); this.d = split();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** 0 ≤ n < max. */
  int(max: number): number {
    return max <= 1 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * max);
  }

  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  /** One of `choices` by weight. */
  weighted<T>(choices: ReadonlyArray<readonly [T, number]>): T {
    const total = choices.reduce((n, [, w]) => n + w, 0);
    let r = this.int(total);
    for (const [v, w] of choices) {
      if (r < w) return v;
      r -= w;
    }
    return choices[0]![0];
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

// ── messages ──

/** A CoAP message as the fuzzer holds it before encoding: any field may be out of range. */
export interface Draft {
  version: number;
  /** 0 CON, 1 NON, 2 ACK, 3 RST. */
  type: number;
  /** The Token Length nibble when it is not the token's length (a mismatch, or 9–15). */
  tkl?: number;
  token: Buffer;
  code: number;
  mid: number;
  /** [number, value]; encoded in ascending order (deltas are never negative, RFC 7252 §3.1). */
  options: Array<[number, Buffer]>;
  payload: Buffer;
  /** A payload marker even with no payload (a format error, §3). */
  marker?: boolean;
}

export interface Encoded {
  bytes: Buffer;
  /** Offsets of each option's first byte (the delta and length nibbles). */
  heads: number[];
}

export function encodeDraft(d: Draft): Encoded {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(4);
  head[0] = ((d.version & 3) << 6) | ((d.type & 3) << 4) | ((d.tkl ?? d.token.length) & 0x0f);
  head[1] = d.code & 0xff;
  head.writeUInt16BE(d.mid & 0xffff, 2);
  parts.push(head, d.token);
  let at = 4 + d.token.length;
  const heads: number[] = [];
  let last = 0;
  const sorted = d.options.map((o, i) => [o, i] as const).sort((x, y) => x[0][0] - y[0][0] || x[1] - y[1]).map(([o]) => o);
  for (const [number, value] of sorted) {
    const o = optionBytes(number - last, value);
    heads.push(at);
    at += o.length;
    parts.push(o);
    last = number;
  }
  if (d.payload.length > 0 || d.marker) parts.push(Buffer.from([0xff]), d.payload);
  return { bytes: Buffer.concat(parts), heads };
}

/** RFC 7252 §3.1: nibbles 0–12, or 13 + one byte, or 14 + two bytes. */
function optionBytes(delta: number, value: Buffer): Buffer {
  const ext = (n: number): [number, Buffer] => (n < 13 ? [n, Buffer.alloc(0)] : n < 269 ? [13, Buffer.from([n - 13])] : [14, u16(n - 269)]);
  const [dn, de] = ext(delta);
  const [ln, le] = ext(value.length);
  return Buffer.concat([Buffer.from([(dn << 4) | ln]), de, le, value]);
}

const u16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(n & 0xffff); return b; };

/** A uint option value with the fewest bytes (RFC 7252 §3.2). */
export function uint(n: number): Buffer {
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v % 256);
  return Buffer.from(out);
}

/** A Block1/Block2 value (RFC 7959 §2.2). */
export function block(num: number, more: boolean, szx: number): Buffer {
  return uint(num * 16 + (more ? 8 : 0) + szx);
}

export const OPT = {
  IF_MATCH: 1, URI_HOST: 3, ETAG: 4, IF_NONE_MATCH: 5, OBSERVE: 6, URI_PORT: 7, LOCATION_PATH: 8, OSCORE: 9, URI_PATH: 11,
  CONTENT_FORMAT: 12, MAX_AGE: 14, URI_QUERY: 15, ACCEPT: 17, Q_BLOCK1: 19, LOCATION_QUERY: 20, BLOCK2: 23, BLOCK1: 27,
  SIZE2: 28, Q_BLOCK2: 31, PROXY_URI: 35, PROXY_SCHEME: 39, SIZE1: 60, NO_RESPONSE: 258, ECHO: 252,
} as const;

const path = (p: string): Array<[number, Buffer]> => p.split('/').filter(Boolean).map((s) => [OPT.URI_PATH, Buffer.from(s)]);
const query = (q: string[]): Array<[number, Buffer]> => q.map((s) => [OPT.URI_QUERY, Buffer.from(s)]);

// ── what the fuzzer knows of the server ──

/** What the server said to the fuzzer so far, used by templates that need a live value. */
export interface Learned {
  /** Download names of firmware images that exist. */
  imageIds: string[];
  /** Blocks of the image at SZX 6 (for block numbers near the end). */
  imageBlocks: number;
  /** Registration ids from Location-Path of 2.01 answers (the newest last). */
  registrations: string[];
  /** Echo values the server sent (the newest last); only used when `useEcho`. */
  echoes: Buffer[];
  /** Requests the server sent to the fuzzer (Read /3/0 after a Register): MID and token, for answers. */
  serverRequests: Array<{ mid: number; token: Buffer }>;
  /** Whether learned Echo values and tokens may be sent back (they prove the fuzzer's address). */
  useLearned: boolean;
}

export function remember<T>(list: T[], v: T, max = 16): void {
  list.push(v);
  if (list.length > max) list.splice(0, list.length - max);
}

// ── templates ──

export type Template =
  | 'register' | 'update' | 'deregister' | 'get-fw' | 'empty-ack' | 'rst' | 'observe' | 'block1' | 'ping' | 'answer' | 'other-method';

export const TEMPLATES: readonly Template[] = ['register', 'update', 'deregister', 'get-fw', 'empty-ack', 'rst', 'observe', 'block1', 'ping', 'answer', 'other-method'];

/** Weights per socket: the LwM2M socket is mostly /rd, the download socket mostly /fw. */
const WEIGHTS: Record<'coap' | 'download', ReadonlyArray<readonly [Template, number]>> = {
  coap: [['register', 16], ['update', 12], ['deregister', 3], ['get-fw', 10], ['empty-ack', 4], ['rst', 3], ['observe', 6], ['block1', 16], ['ping', 3], ['answer', 5], ['other-method', 3]],
  download: [['register', 5], ['update', 3], ['deregister', 2], ['get-fw', 40], ['empty-ack', 4], ['rst', 3], ['observe', 8], ['block1', 6], ['ping', 4], ['answer', 2], ['other-method', 4]],
};

const LINKS = '</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0>,</5/0>';
const LIFETIMES = [60, 300, 3600, 86400];

/** One Register body sent block by block (RFC 7959 §2.5): token, next block, size. */
interface Block1Session { token: Buffer; body: Buffer; szx: number; next: number; query: string[] }

export interface Datagram {
  bytes: Buffer;
  /** Its template; 'sweep' for a prefix of one, 'replay' for the previous datagram sent again. */
  template: Template | 'sweep' | 'replay';
}

/**
 * The datagrams for one socket: first every prefix of every template (truncation at every point),
 * then templates with mutations. `next()` is deterministic for a seed, given the same `learned`.
 */
export class DatagramFuzzer {
  private readonly rng: Rng;
  private readonly socket: 'coap' | 'download';
  private readonly learned: Learned;
  private mid: number;
  private session: Block1Session | undefined;
  private readonly sweep: Buffer[] = [];
  private last: Buffer | undefined;

  constructor(seed: number, socket: 'coap' | 'download', learned: Learned) {
    this.rng = new Rng(seed);
    this.socket = socket;
    this.learned = learned;
    this.mid = this.rng.int(0x10000);
    for (const t of TEMPLATES) {
      const whole = encodeDraft(this.template(t)).bytes;
      for (let n = 0; n < whole.length; n++) this.sweep.push(whole.subarray(0, n));
    }
    this.session = undefined;
  }

  next(): Datagram {
    const swept = this.sweep.shift();
    if (swept !== undefined) return { bytes: swept, template: 'sweep' };
    const r = this.rng;
    // Now and then the previous datagram again: a retransmission, or a replay with a new Message ID.
    if (this.last && r.chance(0.02)) {
      const again = Buffer.from(this.last);
      if (again.length >= 4 && r.chance(0.5)) again.writeUInt16BE(r.int(0x10000), 2);
      return { bytes: again, template: 'replay' };
    }
    const template = r.weighted(WEIGHTS[this.socket]);
    const d = this.template(template);
    // A tenth goes out valid (so bodies complete and downloads proceed); the rest is mutated.
    if (r.chance(0.9)) {
      const structural = r.weighted([[0, 2], [1, 5], [2, 3], [3, 2], [6, 1]] as const);
      for (let i = 0; i < structural; i++) this.mutateDraft(d);
    }
    const enc = encodeDraft(d);
    const bytes = r.chance(0.45) ? this.mutateBytes(enc) : enc.bytes;
    this.last = bytes;
    return { bytes, template };
  }

  // ── valid messages ──

  private nextMid(): number {
    this.mid = (this.mid + 1) & 0xffff;
    return this.mid;
  }

  private token(): Buffer {
    return this.rng.bytes(this.rng.weighted([[0, 1], [1, 1], [2, 1], [4, 4], [8, 2]] as const));
  }

  private draft(type: number, code: number, options: Array<[number, Buffer]>, payload = Buffer.alloc(0), token = this.token()): Draft {
    return { version: 1, type, token, code, mid: this.nextMid(), options, payload };
  }

  private registrationId(): string {
    const ids = this.learned.registrations;
    return ids.length > 0 && this.rng.chance(0.85) ? this.rng.pick(ids) : this.rng.bytes(6).toString('base64url');
  }

  private imageId(): string {
    return this.rng.chance(0.9) ? this.rng.pick(this.learned.imageIds) : String(this.rng.pick([0, 1, 2, 99, 2 ** 31, 9_007_199_254_740_991]));
  }

  private endpoint(): string {
    // A few names again and again (known once registered: never rate-limited), the rest new.
    return this.rng.chance(0.5) ? `fz-${this.rng.int(16)}` : `fz-${this.rng.bytes(4).toString('hex')}`;
  }

  private registerQuery(): string[] {
    const q = [`ep=${this.endpoint()}`, `lt=${this.rng.pick(LIFETIMES)}`, 'lwm2m=1.1'];
    if (this.rng.chance(0.3)) q.push(this.rng.pick(['b=U', 'b=UQ', 'b=Q']));
    return q;
  }

  template(t: Template): Draft {
    const r = this.rng;
    const CON = 0; const NON = 1; const ACK = 2; const RST = 3;
    const conOrNon = (): number => (r.chance(0.8) ? CON : NON);
    switch (t) {
      case 'register':
        return this.draft(conOrNon(), 2, [...path('/rd'), [OPT.CONTENT_FORMAT, uint(40)], ...query(this.registerQuery())], Buffer.from(LINKS));
      case 'update': {
        const q = r.chance(0.5) ? [`lt=${r.pick(LIFETIMES)}`] : [];
        const body = r.chance(0.3) ? Buffer.from(LINKS) : Buffer.alloc(0);
        const cf: Array<[number, Buffer]> = body.length > 0 ? [[OPT.CONTENT_FORMAT, uint(40)]] : [];
        return this.draft(conOrNon(), 2, [...path(`/rd/${this.registrationId()}`), ...cf, ...query(q)], body);
      }
      case 'deregister':
        return this.draft(conOrNon(), 4, path(`/rd/${this.registrationId()}`));
      case 'get-fw': {
        const options: Array<[number, Buffer]> = path(`/fw/${this.imageId()}`);
        const szx = r.chance(0.6) ? 6 : r.int(7);
        const blocks = Math.ceil(this.learned.imageBlocks * (1 << (6 - szx)));
        if (r.chance(0.85)) options.push([OPT.BLOCK2, block(r.chance(0.8) ? r.int(blocks + 2) : r.int(1 << 20), false, szx)]);
        if (r.chance(0.2)) options.push([OPT.SIZE2, uint(0)]);
        if (r.chance(0.1)) options.push([OPT.ACCEPT, uint(42)]);
        if (r.chance(0.15)) options.push([OPT.ECHO, this.echo()]);
        return this.draft(conOrNon(), 1, options);
      }
      case 'empty-ack':
        return { version: 1, type: ACK, token: Buffer.alloc(0), code: 0, mid: this.serverMid(), options: [], payload: Buffer.alloc(0) };
      case 'rst':
        return { version: 1, type: RST, token: Buffer.alloc(0), code: 0, mid: this.serverMid(), options: [], payload: Buffer.alloc(0) };
      case 'ping':
        return { version: 1, type: CON, token: Buffer.alloc(0), code: 0, mid: this.nextMid(), options: [], payload: Buffer.alloc(0) };
      case 'observe': {
        const target = r.pick(['/rd', `/fw/${this.imageId()}`, '/3/0', '/', `/rd/${this.registrationId()}`, '/fw', '/.well-known/core']);
        return this.draft(conOrNon(), 1, [[OPT.OBSERVE, uint(r.pick([0, 0, 1, 0xffffff]))], ...path(target)]);
      }
      case 'block1':
        return this.block1();
      case 'answer': {
        // An answer to a request of the server's (a Read of /3/0): a piggybacked 2.05 or 4.04.
        const req = this.learned.useLearned && this.learned.serverRequests.length > 0 && r.chance(0.8) ? r.pick(this.learned.serverRequests) : undefined;
        const code = r.pick([0x45, 0x45, 0x84, 0x44, 0xa0]);
        const payload = code === 0x45 ? r.pick([Buffer.from('c8001446657272792d66757a7a', 'hex'), Buffer.from('fuzz'), Buffer.from('08000ec1006cc101ac', 'hex')]) : Buffer.alloc(0);
        const options: Array<[number, Buffer]> = code === 0x45 ? [[OPT.CONTENT_FORMAT, uint(r.pick([11542, 0, 112, 42]))]] : [];
        return { version: 1, type: req ? ACK : r.pick([ACK, CON, NON]), token: req ? req.token : this.token(), code, mid: req ? req.mid : this.nextMid(), options, payload };
      }
      case 'other-method': {
        const code = r.pick([3, 5, 6, 7, 8, 31]); // PUT, FETCH, PATCH, iPATCH, 0.08, 0.31
        return this.draft(conOrNon(), code, [...path(r.pick(['/rd', '/fw/1', '/.well-known/core'])), [OPT.CONTENT_FORMAT, uint(r.pick([40, 60, 11542]))]], Buffer.from(LINKS));
      }
    }
  }

  /** The next block of the Register body under way; a new body after the last block. */
  private block1(): Draft {
    const r = this.rng;
    if (this.session === undefined || this.session.next * (1 << (this.session.szx + 4)) >= this.session.body.length || r.chance(0.05)) {
      const szx = r.pick([0, 0, 1, 2]);
      const extra = r.chance(0.1) ? `,${Array.from({ length: r.range(10, 700) }, (_, i) => `</${i + 10}/0>`).join(',')}` : '';
      this.session = { token: r.bytes(r.pick([2, 4, 8])), body: Buffer.from(LINKS + extra), szx, next: 0, query: this.registerQuery() };
    }
    const s = this.session;
    const size = 1 << (s.szx + 4);
    // Mostly the next block; sometimes one again, one skipped, or block 0.
    const num = r.weighted([[s.next, 10], [Math.max(0, s.next - 1), 1], [s.next + 1, 1], [0, 1]] as const);
    const start = num * size;
    const chunk = s.body.subarray(start, start + size);
    const more = start + size < s.body.length;
    if (num === s.next) s.next++;
    const options: Array<[number, Buffer]> = [...path('/rd'), [OPT.CONTENT_FORMAT, uint(40)], ...query(s.query), [OPT.BLOCK1, block(num, more, s.szx)]];
    if (num === 0 && r.chance(0.3)) options.push([OPT.SIZE1, uint(s.body.length)]);
    return { version: 1, type: 0, token: s.token, code: 2, mid: this.nextMid(), options, payload: Buffer.from(chunk) };
  }

  private serverMid(): number {
    const reqs = this.learned.serverRequests;
    return reqs.length > 0 && this.rng.chance(0.5) ? this.rng.pick(reqs).mid : this.rng.int(0x10000);
  }

  private echo(): Buffer {
    const r = this.rng;
    const learned = this.learned.useLearned ? this.learned.echoes : [];
    if (learned.length > 0 && r.chance(0.6)) return Buffer.from(r.pick(learned));
    return r.pick([Buffer.alloc(0), r.bytes(12), r.bytes(40), r.bytes(41), r.bytes(4), Buffer.alloc(12)]);
  }

  // ── mutations ──

  /** Option numbers worth trying: every one Ferry reads, unknown critical and elective ones, the extremes. */
  private static readonly NUMBERS = [
    0, 1, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 15, 16, 17, 19, 20, 23, 27, 28, 31, 35, 39, 60, 252, 258, 2049, 2053, 65000, 65535, 65804,
  ];

  private value(n: number): Buffer {
    const r = this.rng;
    const uints = (): Buffer => r.pick([
      Buffer.alloc(0), Buffer.from([0]), Buffer.alloc(4), Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from([0xff]),
      Buffer.from([0xff, 0xff]), Buffer.from([0xff, 0xff, 0xff]), Buffer.alloc(8, 0xff), uint(r.u32()), uint(r.int(256)),
      block((1 << 20) - 1, r.chance(0.5), r.int(8)), block(r.int(64), r.chance(0.5), 7), Buffer.from([0x07]), Buffer.from([0x0f]),
      block((1 << 20) - 1, true, 6), Buffer.from([0x00, 0x00, 0x00, 0x06]), Buffer.alloc(r.pick([13, 269, 300]), 0xff),
    ]);
    switch (n) {
      case OPT.BLOCK1: case OPT.BLOCK2: case OPT.SIZE1: case OPT.SIZE2: case OPT.OBSERVE: case OPT.CONTENT_FORMAT:
      case OPT.ACCEPT: case OPT.MAX_AGE: case OPT.URI_PORT: case OPT.NO_RESPONSE:
        return r.chance(0.15) ? uint(r.pick([40, 42, 0, 11542, 112, 65535, 65536])) : uints();
      case OPT.ECHO:
        return this.echo();
      case OPT.URI_PATH:
        return Buffer.from(r.pick(['rd', 'fw', '..', '', '1', '0', '01', '99999999999999999', String(r.int(1e6)), 'rd'.repeat(200), '\u00e9', 'fw\u0000']), 'utf8');
      case OPT.URI_QUERY:
        return Buffer.from(r.pick([
          'ep=', `ep=${'x'.repeat(r.pick([64, 65, 255, 1000]))}`, 'lt=0', 'lt=-1', 'lt=1e3', 'lt=99999999999', 'lt=2592001', 'lt=', 'lwm2m=1.0',
          'lwm2m=1.2', 'lwm2m=', 'b=X', 'b=', 'sms=1', 'ep=fz-0', 'ep', '=', '&', 'ep=a&lt=1', 'q', 'ep=\u0000', 'Q', 'b=UQS',
        ]), 'utf8');
      case OPT.URI_HOST:
        return Buffer.from(r.pick(['127.0.0.1', '', 'x'.repeat(255), '[::1]']));
      default:
        return r.bytes(r.pick([0, 1, 2, 4, 8, 12, 13, 40, 269]));
    }
  }

  private mutateDraft(d: Draft): void {
    const r = this.rng;
    const kind = r.weighted([
      ['version', 1], ['type', 3], ['tkl', 3], ['code', 3], ['mid', 1], ['add', 6], ['critical', 3], ['repeat', 4], ['drop', 3], ['value', 8],
      ['payload', 3], ['marker', 2], ['huge-payload', 1], ['path', 2],
    ] as const);
    switch (kind) {
      case 'version': d.version = r.pick([0, 2, 3]); return;
      case 'type': d.type = r.int(4); return;
      case 'tkl': {
        const tkl = r.int(16);
        // With bytes that match the nibble (9–15 are still a format error) or without.
        if (r.chance(0.5)) { d.token = r.bytes(tkl); d.tkl = undefined; } else d.tkl = tkl;
        return;
      }
      case 'code':
        d.code = r.chance(0.7) ? r.pick([0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x07, 0x1f, 0x20, 0x41, 0x44, 0x45, 0x5f, 0x80, 0x84, 0xa0, 0xe0, 0xff]) : r.int(256);
        return;
      case 'mid': d.mid = r.pick([0, 0xffff, r.int(0x10000)]); return;
      case 'add': {
        const n = r.pick(DatagramFuzzer.NUMBERS);
        d.options.push([n, this.value(n)]);
        return;
      }
      case 'critical': d.options.push([r.pick([2049, 9, 19, 35, 1, 5, 31, 39, 2053, 65535, 3, 7]), r.bytes(r.int(4))]); return;
      case 'repeat': {
        const o = d.options.length > 0 ? r.pick(d.options) : undefined;
        if (o) d.options.push([o[0], r.chance(0.5) ? o[1] : this.value(o[0])]);
        else d.options.push([OPT.BLOCK2, block(0, false, 6)], [OPT.BLOCK2, block(1, false, 6)]);
        return;
      }
      case 'drop':
        if (d.options.length > 0) d.options.splice(r.int(d.options.length), 1);
        return;
      case 'value': {
        // The options a request's meaning hangs on, given boundary values.
        const n = r.pick([OPT.BLOCK1, OPT.BLOCK2, OPT.SIZE1, OPT.SIZE2, OPT.OBSERVE, OPT.ECHO, OPT.CONTENT_FORMAT, OPT.ACCEPT, OPT.URI_QUERY, OPT.URI_PATH]);
        const i = d.options.findIndex(([k]) => k === n);
        if (i >= 0 && r.chance(0.7)) d.options[i] = [n, this.value(n)];
        else d.options.push([n, this.value(n)]);
        return;
      }
      case 'payload':
        d.payload = r.pick([Buffer.alloc(0), r.bytes(r.range(1, 64)), Buffer.from([0xc3, 0x28, 0xa0, 0xa1]), Buffer.from('<'), Buffer.from('</1/0>;ct=,,,'), Buffer.from(`${LINKS},${LINKS}`)]);
        return;
      case 'marker': d.marker = true; d.payload = r.chance(0.7) ? Buffer.alloc(0) : d.payload; return;
      case 'huge-payload':
        d.payload = r.chance(0.5) ? Buffer.from(Array.from({ length: r.range(100, 800) }, (_, i) => `</${i}/0>`).join(',')) : r.bytes(r.range(1000, 9000));
        return;
      case 'path': {
        const kept = d.options.filter(([k]) => k !== OPT.URI_PATH);
        d.options = [...kept, ...path(r.pick(['/rd', '/fw', `/fw/${this.imageId()}`, `/rd/${this.registrationId()}`, '/rd/x/y', '/', '/3/0', `/fw/${this.imageId()}/0`, '/bs', '/dp']))];
        return;
      }
    }
  }

  private mutateBytes(enc: Encoded): Buffer {
    const r = this.rng;
    let b = Buffer.from(enc.bytes);
    const ops = r.weighted([[1, 6], [2, 3], [3, 1]] as const);
    for (let i = 0; i < ops; i++) {
      const kind = r.weighted([
        ['nibble', 5], ['ext', 2], ['overlong', 2], ['truncate', 4], ['flip', 6], ['insert', 4], ['set', 3], ['delete', 2], ['dup', 1], ['marker', 2],
      ] as const);
      const head = enc.heads.length > 0 ? r.pick(enc.heads) : undefined;
      switch (kind) {
        case 'nibble': // an option's delta or length nibble: 13/14 (extended), 15 (reserved)
          if (head !== undefined && head < b.length) {
            const v = r.pick([13, 14, 15, r.int(16)]);
            b[head] = r.chance(0.5) ? (v << 4) | (b[head]! & 0x0f) : (b[head]! & 0xf0) | v;
          }
          break;
        case 'ext': // an extended delta or length with its bytes: 13+n, 269+n, the two-byte maximum
          if (head !== undefined && head <= b.length) {
            const ext = r.pick([Buffer.from([0xdd, r.int(256)]), Buffer.from([0xd0, r.int(256)]), Buffer.from([0xe0, 0xff, 0xff]), Buffer.from([0x0e, 0xff, 0xff]), Buffer.from([0xee, 0xff, 0xfe, 0xff, 0xfe]), Buffer.from([0xe1, 0x00, 0x00, 0x00])]);
            b = Buffer.concat([b.subarray(0, head), ext, b.subarray(head)]);
          }
          break;
        case 'overlong': // an option whose length runs past the end
          if (head !== undefined && head < b.length) b[head] = (b[head]! & 0xf0) | 12;
          else b = Buffer.concat([b, Buffer.from([0x0c, 1])]);
          break;
        case 'truncate': b = b.subarray(0, r.int(b.length + 1)); break;
        case 'flip': if (b.length > 0) b[r.int(b.length)]! ^= 1 << r.int(8); break;
        case 'insert': {
          const at = r.int(b.length + 1);
          const ins = r.chance(0.5) ? Buffer.from([r.pick([0x00, 0xff, 0xd0, 0xe0, 0x0d, 0x0e, 0x0f, 0xf0, 0x7f, 0x80])]) : r.bytes(r.range(1, 8));
          b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
          break;
        }
        case 'set': if (b.length > 0) b[r.int(b.length)] = r.int(256); break;
        case 'delete': {
          const at = r.int(b.length + 1);
          b = Buffer.concat([b.subarray(0, at), b.subarray(at + r.range(1, 8))]);
          break;
        }
        case 'dup': {
          const at = r.int(b.length + 1);
          const n = r.range(1, 16);
          b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + n), b.subarray(at)]);
          break;
        }
        case 'marker': { // a payload marker (with or without bytes after it)
          const at = head !== undefined && r.chance(0.6) ? head : r.int(b.length + 1);
          b = Buffer.concat([b.subarray(0, at), Buffer.from([0xff]), r.chance(0.5) ? Buffer.alloc(0) : b.subarray(at)]);
          break;
        }
      }
    }
    return b;
  }
}
