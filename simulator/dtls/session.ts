/**
 * One client-side DTLS 1.2 PSK session (RFC 6347, profiled by RFC 7925 §4.2), independent of any
 * socket: `receive` takes datagrams from the server, `send` (given) puts datagrams on the wire.
 * Flights: ClientHello (again with the cookie after a HelloVerifyRequest, RFC 6347 §4.2.1), then
 * ClientKeyExchange + ChangeCipherSpec + Finished once ServerHelloDone arrived; the server's
 * Finished is checked before application data flows. Records are protected with AES-128-CCM(_8)
 * (RFC 6655); with a server-issued Connection ID our records use the RFC 9146 §4 format, and with
 * a CID of our own (`ownCid`) the server's records come in it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { realClock } from '../clock.ts';
import type { Clock } from '../clock.ts';
import { openRecord } from './ccm.ts';
import type { RecordCipher } from './ccm.ts';
import { DtlsError, alertName } from './errors.ts';
import { FlightTimer } from './flight-timer.ts';
import { ExtensionType, HandshakeType, Reassembler, clientHelloBody, handshakeMessage, pskClientKeyExchangeBody, readHelloVerifyRequest, readPskServerKeyExchange, readServerHello } from './handshake.ts';
import { extendedMasterSecret, finishedVerifyData, pskPremaster, sha256, trafficKeys } from './prf.ts';
import { ContentType, DTLS12, aeadAdditionalData, cidAdditionalData, decodeRecords, readInnerPlaintext } from './record.ts';
import { RecordWriter } from './record-writer.ts';
import { ReplayWindow } from './replay.ts';

export const Suite = { PSK_AES_128_CCM_8: 0xc0a8, PSK_AES_128_CCM: 0xc0a4 } as const;

export interface DtlsClientOptions {
  psk: Buffer;
  identity: Buffer;
  /** Offered in this order; default CCM_8 then CCM. */
  suites?: readonly number[];
  /** Offer RFC 9146 connection_id (an empty CID of our own unless `ownCid`: the server is asked for one). */
  useCid?: boolean;
  /** With useCid: the CID the server is to put on the records it sends us (1..255 bytes). */
  ownCid?: Buffer;
  clock?: Clock;
  /** RFC 6347 §4.2.4.1 timer: 1000 ms initially, 60 s at most, given up after 6 retransmissions. */
  initialTimeoutMs?: number;
  maxTimeoutMs?: number;
  maxRetransmits?: number;
}

type State = 'new' | 'hello' | 'finishing' | 'established' | 'closed';
type FlightItem = { type: number; epoch: number; content: Buffer<ArrayBufferLike> };

export class DtlsSession {
  readonly #opts: DtlsClientOptions;
  readonly #send: (datagram: Buffer) => void;
  readonly #timer: FlightTimer;
  readonly #clock: Clock;
  readonly #repeatGapMs: number;
  #lastFlightAt = 0;
  readonly #reasm = new Reassembler();
  readonly #windows = [new ReplayWindow(), new ReplayWindow()];
  readonly #clientRandom = randomBytes(32);
  #state: State = 'new';
  readonly #out = new RecordWriter();
  #msgSeq = 0;
  /** The cookie of the HelloVerifyRequest answered, to know a repeated one (RFC 6347 §4.2.1). */
  #cookie: Buffer | undefined;
  #nextServerSeq: number | undefined;
  #pending = new Map<number, { type: number; body: Buffer }>();
  #transcript: Buffer<ArrayBufferLike>[] = [];
  #flight: FlightItem[] = [];
  #serverRandom: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  #tagLength = 8;
  #hint = Buffer.alloc(0);
  #master: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  #read: RecordCipher | undefined;
  #serverCcs = false;
  /** The CID the server puts on its records: ours, once its ServerHello agreed to connection_id; else empty. */
  #inCid: Buffer = Buffer.alloc(0);
  #resolve!: () => void;
  #reject!: (e: DtlsError) => void;
  readonly ready: Promise<void>;
  /** Application data from the server. */
  onData: (data: Buffer) => void = () => {};
  /** The session ended after the handshake: close_notify or a fatal alert. */
  onClose: (err?: DtlsError) => void = () => {};

  constructor(send: (datagram: Buffer) => void, opts: DtlsClientOptions) {
    this.#send = send;
    this.#opts = opts;
    this.ready = new Promise<void>((res, rej) => {
      this.#resolve = res;
      this.#reject = rej;
    });
    this.ready.catch(() => {});
    this.#clock = opts.clock ?? realClock;
    this.#repeatGapMs = (opts.initialTimeoutMs ?? 1000) / 4;
    const t = { initialMs: opts.initialTimeoutMs ?? 1000, maxMs: opts.maxTimeoutMs ?? 60_000, maxRetransmits: opts.maxRetransmits ?? 6 };
    this.#timer = new FlightTimer(this.#clock, t, () => this.#sendFlight(true), () => this.#fail(new DtlsError('timeout', `DTLS handshake timed out after ${t.maxRetransmits} retransmissions`)));
  }

  get established(): boolean {
    return this.#state === 'established';
  }
  /** The identity hint the server sent (RFC 4279 §2), empty when none. */
  get identityHint(): Buffer {
    return this.#hint;
  }
  /** The negotiated suite's tag length: 8 for CCM_8, 16 for CCM. */
  get tagLength(): number {
    return this.#tagLength;
  }
  /** The CID the server asked us to put on our records (RFC 9146 §3), if any. */
  get peerCid(): Buffer | undefined {
    return this.#out.cid;
  }

  /** Sends the first ClientHello; `ready` settles when the handshake ends. */
  start(): Promise<void> {
    if (this.#state === 'new') {
      this.#state = 'hello';
      this.#sendClientHello(Buffer.alloc(0));
    }
    return this.ready;
  }

  /** Encrypts and sends application data (only once established). */
  sendApplicationData(data: Buffer): void {
    if (this.#state !== 'established') throw new DtlsError('closed', 'DTLS session not established');
    this.#send(this.#out.protect(ContentType.applicationData, data));
  }

  /** Sends close_notify (RFC 5246 §7.2.1) and ends the session. */
  close(): void {
    if (this.#state === 'established') this.#send(this.#out.protect(ContentType.alert, Buffer.from([1, 0])));
    this.#end();
  }

  /** Ends the session without a word to the server (another replaces it); a handshake under way fails. */
  abandon(): void {
    if (this.#state === 'closed') return;
    const was = this.#state;
    this.#end();
    if (was !== 'established') this.#reject(new DtlsError('closed', 'DTLS session abandoned for a new one'));
  }

  receive(datagram: Buffer): void {
    if (this.#state === 'closed' || this.#state === 'new') return;
    const own = this.#inCid;
    for (const rec of decodeRecords(datagram, this.#ownCid.length)) {
      if (rec.version !== DTLS12 && !(rec.epoch === 0 && (rec.version & 0xff00) === 0xfe00)) continue;
      const win = this.#windows[rec.epoch];
      if (win === undefined || !win.fresh(rec.seq)) continue;
      let content = rec.fragment;
      let type = rec.type;
      if (rec.epoch === 1) {
        if (this.#read === undefined) continue;
        // RFC 9146 §3: with a CID of our own every protected record is tls12_cid, without one none is.
        if ((rec.type === ContentType.tls12Cid) !== (own.length > 0) || (rec.cid !== undefined && !rec.cid.equals(own))) continue;
        const aad = rec.cid !== undefined
          ? (n: number) => cidAdditionalData(rec.epoch, rec.seq, rec.version, own, n)
          : (n: number) => aeadAdditionalData(rec.epoch, rec.seq, rec.type, rec.version, n);
        const opened = openRecord(this.#read, rec.fragment, aad);
        if (opened === undefined) continue; // RFC 6347 §4.1.2.7: discard silently
        content = opened;
        if (rec.cid !== undefined) {
          const inner = readInnerPlaintext(opened);
          if (inner === undefined) continue;
          type = inner.type;
          content = inner.content;
        }
      } else if (rec.type === ContentType.tls12Cid) {
        continue; // never in epoch 0
      }
      win.mark(rec.seq);
      this.#onRecord(type, rec.epoch, content);
      if (this.#isClosed()) return;
    }
  }

  /** The CID we offer the server to use, empty when none. */
  get #ownCid(): Buffer {
    return this.#opts.useCid === true && this.#opts.ownCid !== undefined ? this.#opts.ownCid : Buffer.alloc(0);
  }

  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #onRecord(type: number, epoch: number, content: Buffer): void {
    if (type === ContentType.alert) {
      // After the handshake only a protected alert counts: one in the clear could come from anyone.
      if (epoch === 0 && this.#state === 'established') return;
      return this.#onAlert(content);
    }
    if (type === ContentType.changeCipherSpec) {
      if (this.#state === 'finishing' && epoch === 0) this.#serverCcs = true;
      return;
    }
    if (type === ContentType.applicationData) {
      if (this.#state === 'established' && epoch === 1) this.onData(content);
      return;
    }
    // Once established, handshake records are only repeats of the server's last flight, or a
    // renegotiation, which RFC 7925 §17 leaves out: both are ignored.
    if (type !== ContentType.handshake || this.#state === 'established') return;
    if (epoch === 1 && !this.#serverCcs) return;
    const done = this.#reasm.push(content);
    // RFC 6347 §4.2.4: the server repeated its flight, so ours was lost; answer once per burst
    // (a repeated flight comes as several records, often several datagrams).
    if (done.length === 0 && epoch === 0 && this.#state === 'finishing' && this.#clock.now() - this.#lastFlightAt >= this.#repeatGapMs) this.#sendFlight(true);
    for (const m of done) this.#pending.set(m.seq, m);
    this.#drain();
  }

  #drain(): void {
    for (;;) {
      if (this.#nextServerSeq === undefined) {
        const first = [...this.#pending].find(([, m]) => m.type === HandshakeType.helloVerifyRequest || m.type === HandshakeType.serverHello);
        if (first === undefined) return;
        this.#nextServerSeq = first[0];
      }
      const m = this.#pending.get(this.#nextServerSeq);
      if (m === undefined) return;
      this.#pending.delete(this.#nextServerSeq);
      this.#nextServerSeq += 1;
      try {
        this.#onHandshake(this.#nextServerSeq - 1, m.type, m.body);
      } catch (err) {
        this.#fail(err instanceof DtlsError ? err : new DtlsError('protocol', `bad handshake message: ${(err as Error).message}`));
      }
      if (this.#state === 'closed' || this.#state === 'established') return;
    }
  }

  #onHandshake(seq: number, type: number, body: Buffer): void {
    if (type === HandshakeType.helloVerifyRequest && this.#state === 'hello') {
      // RFC 6347 §4.2.6: the first ClientHello and the HelloVerifyRequest stay out of the transcript.
      this.#reasm.forget(seq);
      const { cookie } = readHelloVerifyRequest(body);
      if (this.#cookie?.equals(cookie) === true) {
        // The network doubled our first ClientHello and the server answered both: the cookie'd
        // ClientHello is out already, and a new one (the next message_seq) would never be answered.
        this.#nextServerSeq = undefined;
        return;
      }
      this.#cookie = cookie;
      // A stateless server numbers its records after our ClientHello's (RFC 6347 §4.2.1), so the
      // answer to the next one may reuse a number already seen in epoch 0.
      this.#windows[0] = new ReplayWindow();
      this.#nextServerSeq = undefined;
      this.#pending.clear();
      this.#sendClientHello(cookie);
      return;
    }
    const whole = handshakeMessage(type, seq, body);
    if (type === HandshakeType.serverHello && this.#state === 'hello') {
      const sh = readServerHello(body);
      const suites = this.#opts.suites ?? [Suite.PSK_AES_128_CCM_8, Suite.PSK_AES_128_CCM];
      if (sh.version !== DTLS12 || !suites.includes(sh.suite) || sh.compression !== 0) throw new DtlsError('protocol', `server chose version ${sh.version.toString(16)} suite ${sh.suite.toString(16)}`);
      if (!sh.extensions.has(ExtensionType.extendedMasterSecret)) throw new DtlsError('protocol', 'server did not agree to the extended master secret (RFC 7627 §5.3)');
      this.#serverRandom = sh.random;
      this.#tagLength = sh.suite === Suite.PSK_AES_128_CCM ? 16 : 8;
      const cid = sh.extensions.get(ExtensionType.connectionId);
      if (cid !== undefined) {
        // RFC 5246 §7.4.1.4: a server extension the client did not offer ends the handshake.
        if (this.#opts.useCid !== true) throw new DtlsError('protocol', 'the server sent connection_id, which was not offered (RFC 9146 §3)');
        if (cid.length < 1 || cid.length !== 1 + cid.readUInt8(0)) throw new DtlsError('protocol', 'malformed connection_id extension in the ServerHello');
        const c = cid.subarray(1);
        if (c.length > 0) this.#out.cid = Buffer.from(c);
        this.#inCid = this.#ownCid;
      }
      this.#transcript.push(whole);
    } else if (type === HandshakeType.serverKeyExchange && this.#state === 'hello') {
      this.#hint = Buffer.from(readPskServerKeyExchange(body));
      this.#transcript.push(whole);
    } else if (type === HandshakeType.serverHelloDone && this.#state === 'hello') {
      this.#transcript.push(whole);
      this.#sendKeyExchange();
    } else if (type === HandshakeType.finished && this.#state === 'finishing') {
      const expected = finishedVerifyData(this.#master, 'server', sha256(Buffer.concat(this.#transcript)));
      if (body.length !== 12 || !timingSafeEqual(body, expected)) {
        this.#send(this.#out.protect(ContentType.alert, Buffer.from([2, 51])));
        throw new DtlsError('protocol', "the server's Finished does not verify (RFC 5246 §7.4.9)");
      }
      this.#timer.stop();
      this.#state = 'established';
      this.#resolve();
    } else {
      throw new DtlsError('protocol', `unexpected handshake message ${type} in state ${this.#state}`);
    }
  }

  #sendClientHello(cookie: Buffer): void {
    const offerCid = this.#opts.useCid === true ? this.#ownCid : undefined;
    const suites = this.#opts.suites ?? [Suite.PSK_AES_128_CCM_8, Suite.PSK_AES_128_CCM];
    const body = clientHelloBody({ random: this.#clientRandom, cookie, suites, offerCid });
    const seq = this.#msgSeq++;
    this.#transcript = [handshakeMessage(HandshakeType.clientHello, seq, body)];
    this.#flight = [{ type: ContentType.handshake, epoch: 0, content: this.#transcript[0] as Buffer }];
    this.#sendFlight();
    this.#timer.start();
  }

  #sendKeyExchange(): void {
    const cke = handshakeMessage(HandshakeType.clientKeyExchange, this.#msgSeq++, pskClientKeyExchangeBody(this.#opts.identity));
    this.#transcript.push(cke);
    // RFC 7627 §4: the session hash covers the transcript up to and including ClientKeyExchange.
    this.#master = extendedMasterSecret(pskPremaster(this.#opts.psk), sha256(Buffer.concat(this.#transcript)));
    const keys = trafficKeys(this.#master, this.#clientRandom, this.#serverRandom);
    this.#out.cipher = { key: keys.clientKey, iv: keys.clientIv, tagLength: this.#tagLength };
    this.#read = { key: keys.serverKey, iv: keys.serverIv, tagLength: this.#tagLength };
    const verify = finishedVerifyData(this.#master, 'client', sha256(Buffer.concat(this.#transcript)));
    const fin = handshakeMessage(HandshakeType.finished, this.#msgSeq++, verify);
    this.#transcript.push(fin);
    this.#flight = [
      { type: ContentType.handshake, epoch: 0, content: cke },
      { type: ContentType.changeCipherSpec, epoch: 0, content: Buffer.from([1]) },
      { type: ContentType.handshake, epoch: 1, content: fin },
    ];
    this.#state = 'finishing';
    this.#sendFlight();
    this.#timer.start();
  }

  /**
   * Sends the current flight, each record with a fresh sequence number (RFC 6347 §4.2.4): first
   * in one datagram. A retransmission adds the flight's epoch-1 records once more on their own: a
   * server that has already finished may reject epoch-0 records and stop reading the datagram
   * there (GnuTLS does), and it resends its last flight only when it reads our Finished.
   */
  #sendFlight(retransmission = false): void {
    this.#lastFlightAt = this.#clock.now();
    const records = this.#flight.map((f) => (f.epoch === 0 ? this.#out.plain(f.type, f.content) : this.#out.protect(f.type, f.content)));
    this.#send(Buffer.concat(records));
    const later = this.#flight.filter((f) => f.epoch === 1);
    if (retransmission && later.length > 0 && later.length < this.#flight.length) this.#send(Buffer.concat(later.map((f) => this.#out.protect(f.type, f.content))));
  }

  #onAlert(content: Buffer): void {
    if (content.length < 2) return;
    const level = content[0] ?? 0;
    const desc = content[1] ?? 0;
    if (desc !== 0 && level !== 2) return; // warnings other than close_notify are ignored
    const err = new DtlsError(desc === 0 ? 'closed' : 'alert', `DTLS ${level === 2 ? 'fatal' : 'warning'} alert from server: ${alertName(desc)} (${desc})`, desc);
    if (this.#state === 'established') {
      if (desc === 0) this.#send(this.#out.protect(ContentType.alert, Buffer.from([1, 0]))); // RFC 5246 §7.2.1: answer close_notify
      this.#end();
      this.onClose(desc === 0 ? undefined : err);
    } else {
      this.#fail(err);
    }
  }

  #fail(err: DtlsError): void {
    const was = this.#state;
    this.#end();
    if (was === 'established') this.onClose(err);
    else this.#reject(err);
  }

  #end(): void {
    this.#timer.stop();
    this.#state = 'closed';
  }
}
