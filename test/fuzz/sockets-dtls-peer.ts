/**
 * One loopback UDP source of the DTLS socket fuzzer (sockets-dtls.ts): a socket on 127.0.0.1 that
 * runs a real handshake with the simulator's own client (simulator/dtls/session.ts), keeps the
 * flights it sent as templates (the first ClientHello, the one with the cookie, ClientKeyExchange
 * + ChangeCipherSpec + Finished), and works the session's keys out of the handshake it saw, the
 * way the server did (RFC 7627 §4 over the transcript, RFC 5246 §6.3), checked against the
 * server's Finished. With them the fuzzer seals records of its own choosing — any type, sequence
 * number or epoch — and reads the server's protected answers (to see a CoAP 5.xx).
 * FERRY_FUZZ_DTLS_DEBUG=1 prints the datagrams of a genuine handshake that did not complete.
 */
import { createSocket, type Socket } from 'node:dgram';
import { parse } from 'coap-packet';
import { openRecord, sealRecord, type RecordCipher } from '../../simulator/dtls/ccm.ts';
import { extendedMasterSecret, finishedVerifyData, masterSecret, pskPremaster, sha256, trafficKeys } from '../../simulator/dtls/prf.ts';
import { aeadAdditionalData, cidAdditionalData, innerPlaintext, readInnerPlaintext } from '../../simulator/dtls/record.ts';
import { DtlsSession } from '../../simulator/dtls/session.ts';
import { CT, HT, MAX_SEQ, encodeHello, encodeRaw, genuineHello, parseFragments, serverHelloCid, splitRaw, wholeMessage } from './sockets-dtls-mutate.ts';

export interface SessionKeys {
  /** The client's write side (what the server opens). */
  write: RecordCipher;
  /** The server's write side (what the client opens). */
  read: RecordCipher;
  /** The master secret (for the Finished messages). */
  master: Buffer;
  /** The CID the server gave us for our records (RFC 9146 §3): they go as tls12_cid with it. */
  cid?: Buffer;
}

export interface Templates {
  /** The first ClientHello's datagram (no cookie). */
  hello: Buffer;
  /** The ClientHello with the cookie: valid from this port while the cookie secret lasts. */
  cookieHello: Buffer;
  /** ClientKeyExchange + ChangeCipherSpec + Finished. */
  finishFlight: Buffer;
  /** The cookie the server gave this port for that hello. */
  cookie: Buffer;
  /** The client random of that hello (a hello with it and the cookie passes the cookie check from this port). */
  random: Buffer;
  /** Whether that hello offered connection_id (an empty CID of ours). */
  useCid: boolean;
}

/** What a handshake's key derivation needs: the transcript up to ClientKeyExchange, the randoms. */
export function deriveKeys(psk: Buffer, transcript: Buffer[], clientRandom: Buffer, serverRandom: Buffer, ems: boolean, tagLength: number): SessionKeys {
  const premaster = pskPremaster(psk);
  const master = ems ? extendedMasterSecret(premaster, sha256(Buffer.concat(transcript))) : masterSecret(premaster, clientRandom, serverRandom);
  const k = trafficKeys(master, clientRandom, serverRandom);
  return { write: { key: k.clientKey, iv: k.clientIv, tagLength }, read: { key: k.serverKey, iv: k.serverIv, tagLength }, master };
}

export function clientFinished(keys: SessionKeys, transcript: Buffer[]): Buffer {
  return finishedVerifyData(keys.master, 'client', sha256(Buffer.concat(transcript)));
}

/**
 * Seals `content` as an epoch-`epoch` record of `type` (AAD of RFC 5246 §6.2.3.3 with the header's
 * own fields); with `cid`, as a tls12_cid record (RFC 9146 §4, the real type inside, AAD of §5).
 */
export function seal(cipher: RecordCipher, type: number, content: Buffer, seq: number, epoch = 1, version = 0xfefd, cid?: Buffer): Buffer {
  if (cid !== undefined && cid.length > 0) {
    const inner = innerPlaintext(content, type);
    const aad = cidAdditionalData(epoch, seq, version, cid, inner.length);
    return encodeRaw({ type: CT.cid, version, epoch, seq, cid, fragment: sealRecord(cipher, epoch, seq, aad, inner) });
  }
  const aad = aeadAdditionalData(epoch, seq, type, version, content.length);
  return encodeRaw({ type, version, epoch, seq, fragment: sealRecord(cipher, epoch, seq, aad, content) });
}

/** Opens a protected record from the server (a tls12_cid one too): its real type and content, or undefined if it does not authenticate. */
export function openFrom(cipher: RecordCipher, rec: { type: number; version: number; epoch: number; seq: number; cid?: Buffer; fragment: Buffer }): { type: number; content: Buffer } | undefined {
  if (rec.cid !== undefined) {
    const cid = rec.cid;
    const inner = openRecord(cipher, rec.fragment, (n) => cidAdditionalData(rec.epoch, rec.seq, rec.version, cid, n));
    return inner === undefined ? undefined : readInnerPlaintext(inner);
  }
  const content = openRecord(cipher, rec.fragment, (n) => aeadAdditionalData(rec.epoch, rec.seq, rec.type, rec.version, n));
  return content === undefined ? undefined : { type: rec.type, content };
}

export class FuzzPeer {
  readonly socket: Socket;
  readonly port: number;
  readonly serverPort: number;
  /** Datagrams from the server not yet looked at (bounded). */
  private inbox: Buffer[] = [];
  private wake: (() => void) | undefined;
  private session: DtlsSession | undefined;
  private capture: Buffer[] | undefined;
  keys: SessionKeys | undefined;
  templates: Templates | undefined;
  /** The length of the CID the server puts on its records to us (one we asked for; 0: none). */
  ownCidLength = 0;
  /** The next epoch-1 sequence number of ours (past the simulator's). */
  writeSeq = 0;
  /** The next epoch-0 sequence number of ours. */
  plainSeq = 0;
  /** CoAP answers read from the server's protected records: code → count; and the 5.xx with the record. */
  readonly answers: Record<string, number> = {};
  readonly fiveXx: Array<{ code: string; hex: string }> = [];
  received = 0;

  private constructor(socket: Socket, serverPort: number) {
    this.socket = socket;
    this.port = socket.address().port;
    this.serverPort = serverPort;
    socket.on('message', (msg, rinfo) => {
      if (rinfo.port !== serverPort) return;
      this.received++;
      this.capture?.push(msg);
      this.session?.receive(msg);
      this.observe(msg);
      this.inbox.push(msg);
      if (this.inbox.length > 64) this.inbox.splice(0, 32);
      this.wake?.();
    });
  }

  static async open(serverPort: number): Promise<FuzzPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => { socket.once('error', reject); socket.bind(0, '127.0.0.1', () => resolve()); });
    return new FuzzPeer(socket, serverPort);
  }

  send(datagram: Buffer): Promise<void> {
    return new Promise((resolve) => this.socket.send(datagram, this.serverPort, '127.0.0.1', () => resolve()));
  }

  /** Forgets what arrived so far. */
  drain(): void {
    this.inbox = [];
  }

  /** The first datagram (from now or already waiting) that `pick` takes, or undefined after `ms`. */
  async wait<T>(pick: (d: Buffer) => T | undefined, ms: number): Promise<T | undefined> {
    const until = Date.now() + ms;
    for (;;) {
      while (this.inbox.length > 0) {
        const got = pick(this.inbox.shift()!);
        if (got !== undefined) return got;
      }
      const left = until - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { this.wake = undefined; resolve(); }, left);
        this.wake = () => { clearTimeout(t); this.wake = undefined; resolve(); };
      });
    }
  }

  /**
   * A whole handshake with the simulator's client; the flights become this peer's templates and
   * the keys are worked out of what it saw. Returns the client session (established), or throws.
   */
  async handshake(identity: Buffer, psk: Buffer, useCid = false, timeoutMs = 8000): Promise<DtlsSession> {
    const sent: Buffer[] = [];
    const got: Buffer[] = [];
    const s = new DtlsSession((d) => { sent.push(d); this.socket.send(d, this.serverPort, '127.0.0.1'); },
      { psk, identity, useCid, initialTimeoutMs: 400, maxRetransmits: 5 });
    this.capture = got;
    this.session = s;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([s.start(), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no handshake in ${timeoutMs} ms`)), timeoutMs); })]);
    } catch (e) {
      if (process.env['FERRY_FUZZ_DTLS_DEBUG']) process.stderr.write(`sent:\n${sent.map((d) => d.toString('hex')).join('\n')}\ngot:\n${got.map((d) => d.toString('hex')).join('\n')}\n`);
      s.close(); // its retransmission timer stops
      this.session = undefined;
      throw e;
    } finally {
      clearTimeout(timer);
      this.capture = undefined;
    }
    this.learn(sent, got, psk, s.tagLength, useCid);
    return s;
  }

  /** Stops feeding the simulator's session (the fuzzer takes over the keys). */
  detach(): void {
    this.session = undefined;
  }

  private learn(sent: Buffer[], got: Buffer[], psk: Buffer, tagLength: number, useCid: boolean): void {
    const hellos = sent.filter((d) => splitRaw(d).some((r) => r.type === CT.handshake && r.epoch === 0 && r.fragment[0] === HT.clientHello));
    const finishFlight = sent.find((d) => splitRaw(d).some((r) => r.type === CT.handshake && r.epoch === 0 && r.fragment[0] === HT.clientKeyExchange));
    const cookieHello = hellos.at(-1);
    if (hellos.length < 2 || !finishFlight || !cookieHello) throw new Error('the handshake did not go ClientHello, ClientHello with cookie, ClientKeyExchange');
    const ch = parseFragments(splitRaw(cookieHello).find((r) => r.type === CT.handshake)!.fragment)[0]!;
    const cke = parseFragments(splitRaw(finishFlight).find((r) => r.type === CT.handshake && r.epoch === 0)!.fragment)[0]!;
    // The server's flight: ServerHello, ServerKeyExchange (with a hint), ServerHelloDone, by message_seq.
    const server = new Map<number, { msgType: number; body: Buffer }>();
    for (const d of got) {
      for (const r of splitRaw(d)) {
        if (r.type !== CT.handshake || r.epoch !== 0) continue;
        for (const f of parseFragments(r.fragment)) if ([HT.serverHello, HT.serverKeyExchange, HT.serverHelloDone].includes(f.msgType as 2)) server.set(f.messageSeq, { msgType: f.msgType, body: f.body });
      }
    }
    const flight = [...server].sort((a, b) => a[0] - b[0]);
    const sh = flight.find(([, m]) => m.msgType === HT.serverHello);
    if (!sh) throw new Error('no ServerHello seen');
    const transcript = [wholeMessage(HT.clientHello, ch.messageSeq, ch.body), ...flight.map(([seq, m]) => wholeMessage(m.msgType, seq, m.body)), wholeMessage(HT.clientKeyExchange, cke.messageSeq, cke.body)];
    const random = ch.body.subarray(2, 34);
    const cid = useCid ? serverHelloCid(sh[1].body) : undefined;
    const keys: SessionKeys = { ...deriveKeys(psk, transcript, random, sh[1].body.subarray(2, 34), true, tagLength), ...(cid ? { cid } : {}) };
    // The server's Finished must open with the keys worked out: otherwise the fuzzer's sealed records would be noise.
    const finished = got.flatMap(splitRaw).find((r) => r.type === CT.handshake && r.epoch === 1);
    if (!finished || openFrom(keys.read, finished) === undefined) throw new Error('the keys worked out of the handshake do not open the server\'s Finished');
    const cookieLength = ch.body[2 + 32 + 1 + ch.body[34]!]!;
    const cookie = Buffer.from(ch.body.subarray(2 + 32 + 1 + ch.body[34]! + 1, 2 + 32 + 1 + ch.body[34]! + 1 + cookieLength));
    // The mutator rebuilds this hello from its fields (a valid cookie for this port): it must come out the same.
    if (!encodeHello(genuineHello(random, cookie, useCid ? Buffer.alloc(0) : undefined)).equals(ch.body)) throw new Error('the simulator\'s ClientHello is not the one genuineHello() writes');
    this.keys = keys;
    this.ownCidLength = 0; // the simulator asks for an empty CID
    this.templates = { hello: hellos[0]!, cookieHello, finishFlight, cookie, random: Buffer.from(random), useCid };
    // The simulator used a few epoch-1 numbers (its Finished, retransmissions); ours start past them.
    this.writeSeq = 32;
    this.plainSeq = 16;
  }

  /**
   * A protected record of ours with the session's keys and the next (or a given) sequence number;
   * in the tls12_cid format when the session has a CID, unless `cid` says otherwise (null: the plain
   * format anyway; a buffer: that CID instead of the session's).
   */
  seal(type: number, content: Buffer, seq?: number, epoch = 1, version = 0xfefd, cid?: Buffer | null): Buffer {
    if (!this.keys) throw new Error('no session keys');
    const n = seq ?? this.writeSeq++;
    return seal(this.keys.write, type, content, Math.min(n, MAX_SEQ), epoch, version, cid === null ? undefined : cid ?? this.keys.cid);
  }

  /** Reads the server's protected application data (CoAP answers) with the current keys, and plain CoAP answers. */
  private observe(msg: Buffer): void {
    const first = msg[0] ?? 0;
    if (first >= 64 && first <= 127) {
      // A plain CoAP answer (to CoAP sent in the clear on the DTLS port).
      let code: string;
      try { code = `plain ${parse(msg).code}`; } catch { code = 'plain unparsable'; }
      this.answers[code] = (this.answers[code] ?? 0) + 1;
      if (code.startsWith('plain 5.')) this.fiveXx.push({ code, hex: msg.toString('hex') });
      return;
    }
    const keys = this.keys;
    if (!keys) return;
    for (const r of splitRaw(msg, this.ownCidLength)) {
      if (r.epoch !== 1 || (r.type !== CT.appData && r.type !== CT.cid)) continue;
      const opened = openFrom(keys.read, r);
      if (opened === undefined || opened.type !== CT.appData) continue;
      const content = opened.content;
      let code: string;
      try { code = parse(content).code; } catch { code = 'unparsable'; }
      this.answers[code] = (this.answers[code] ?? 0) + 1;
      if (code.startsWith('5.')) this.fiveXx.push({ code, hex: content.toString('hex') });
    }
  }

  close(): Promise<void> {
    this.session = undefined;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
