/**
 * One DTLS 1.2 PSK handshake, server side, from the ClientHello that carried a valid cookie to the
 * server's Finished (RFC 6347 §4.2; RFC 4279 §2; RFC 7925 §4.2): the cipher suite chosen, the
 * ServerHello / ServerKeyExchange / ServerHelloDone flight written and kept for retransmission
 * (§4.2.4), the client's handshake messages reassembled (§4.2.3) and hashed (§4.2.6), the keys
 * derived from the PSK the callback gives for the client's identity, the client's Finished checked.
 * It sends nothing itself: each step returns what to send, and the session layer puts it on the wire.
 *
 * Connection ID (RFC 9146 §3): when the ClientHello carries connection_id, the ServerHello answers
 * with the CID the session layer picked for this server to receive, and the client's own CID (the
 * one the server must put in what it sends; zero-length: none) is kept. The client's Finished then
 * already comes as a tls12_cid record. A client that offers no CID gets no extension.
 */
import { createHash, randomBytes } from 'node:crypto';
import { AlertDescription, AlertLevel, encodeAlert, encodeChangeCipherSpec } from '../../protocols/dtls-alert.ts';
import { TAG_LENGTH, type CcmTagLength } from '../../protocols/dtls-ccm.ts';
import { HandshakeType, decodeHandshakeFragments, encodeHandshake, handshakeHashInput, type HandshakeMessage } from '../../protocols/dtls-handshake.ts';
import { CipherSuite, encodeServerHello, RANDOM_LENGTH, type ClientHello } from '../../protocols/dtls-hello.ts';
import { encodeFinished, encodeServerHelloDone, encodeServerKeyExchangePsk, parseClientKeyExchangePsk, parseFinished } from '../../protocols/dtls-messages.ts';
import { HandshakeReassembly } from '../../protocols/dtls-reassembly.ts';
import { ContentType, DTLS_1_2, MAX_SEQUENCE_NUMBER, encodeRecord, type DtlsRecord } from '../../protocols/dtls-record.ts';
import { DecodeError } from '../../protocols/errors.ts';
import { checkVerifyData, extendedMasterSecret, keyExpansion, masterSecret, pskPremasterSecret, verifyData } from '../../protocols/tls-prf.ts';
import { Protection } from './protection.ts';

export type PskLookup = (identity: Buffer) => Promise<Buffer | undefined>;

/** A handshake that cannot go on: the fatal alert to send (RFC 5246 §7.2.2), then the state is dropped. */
export class HandshakeFailure extends Error {
  readonly alert: number;
  readonly atFinished: boolean;
  constructor(alert: number, message: string, atFinished = false) {
    super(message);
    this.alert = alert;
    this.atFinished = atFinished;
  }
}

/** What the session layer keeps once the handshake is complete. */
export interface Established {
  protection: Protection;
  identity: Buffer;
  suite: number;
  /** The server's last flight (ChangeCipherSpec, Finished), sent again when the client repeats its Finished. */
  finalFlight: () => Buffer[];
  /** The CID the server receives in this session's records (RFC 9146), when one was negotiated. */
  cid?: Buffer;
}

/**
 * Epoch-0 record sequence numbers the server may still need after the ClientHello's, whose number
 * its own go on from: the flight, its retransmissions, an alert, the final ChangeCipherSpecs. A
 * ClientHello numbered closer than this to the top of the uint48 is refused (RFC 6347 §4.1: a
 * sequence number never wraps), and once they are used up nothing more is sent in epoch 0.
 */
export const EPOCH0_ROOM = 1024;

/** The server's message_seq runs from the ClientHello's to its Finished, three further on. */
const MAX_HELLO_MESSAGE_SEQ = 0xffff - 3;

/** What a record did: nothing to answer, datagrams to send (maybe the flight again), or the end. */
export type Step = { send: Buffer[]; established?: Established };

/** The suite a client's offer gets: CCM_8 first (RFC 7925 §4.2 mandates it), then CCM; undefined: neither. */
export function chooseSuite(offered: readonly number[]): number | undefined {
  if (offered.includes(CipherSuite.TLS_PSK_WITH_AES_128_CCM_8)) return CipherSuite.TLS_PSK_WITH_AES_128_CCM_8;
  if (offered.includes(CipherSuite.TLS_PSK_WITH_AES_128_CCM)) return CipherSuite.TLS_PSK_WITH_AES_128_CCM;
  return undefined;
}

export class ServerHandshake {
  readonly clientRandom: Buffer;
  private readonly serverRandom = randomBytes(RANDOM_LENGTH);
  private readonly suite: number;
  private readonly tagLength: CcmTagLength;
  private readonly ems: boolean;
  private readonly transcript: Buffer[] = [];
  private readonly flight: HandshakeMessage[] = [];
  private readonly reassembly = new Map<number, HandshakeReassembly>();
  private epoch0Seq: number;
  /** The client's next message_seq: its ClientKeyExchange, then its Finished. */
  private expect: number;
  private serverSeq: number;
  private master: Buffer | undefined;
  private identity: Buffer | undefined;
  private protection: Protection | undefined;
  private cipherSpecChanged = false;

  private readonly pskFor: PskLookup;
  /** The CIDs of RFC 9146 §3 when the client offered connection_id: the server's (receive) and the client's (send). */
  private readonly cids: { receive: Buffer; send: Buffer } | undefined;

  /**
   * @param cid the CID this server would receive, answered only to a client that offers connection_id
   */
  constructor(hello: HandshakeMessage, ch: ClientHello, recordSeq: number, pskFor: PskLookup, hint: Buffer | undefined, cid?: Buffer) {
    this.pskFor = pskFor;
    const suite = chooseSuite(ch.cipherSuites);
    if (suite === undefined) throw new HandshakeFailure(AlertDescription.handshake_failure, 'the client offers no AES-128-CCM PSK suite');
    if (ch.clientVersion.major !== DTLS_1_2.major || ch.clientVersion.minor > DTLS_1_2.minor) {
      throw new HandshakeFailure(AlertDescription.protocol_version, 'the client does not offer DTLS 1.2');
    }
    // RFC 5746 §3.6: an initial handshake's renegotiation_info must be empty.
    if (ch.renegotiationInfo !== undefined && ch.renegotiationInfo.length > 0) {
      throw new HandshakeFailure(AlertDescription.handshake_failure, 'renegotiation_info is not empty on an initial handshake');
    }
    if (recordSeq > MAX_SEQUENCE_NUMBER - EPOCH0_ROOM) {
      throw new HandshakeFailure(AlertDescription.illegal_parameter, `the ClientHello's record sequence number ${recordSeq} leaves the server's epoch 0 no room`);
    }
    if (hello.messageSeq > MAX_HELLO_MESSAGE_SEQ) {
      throw new HandshakeFailure(AlertDescription.illegal_parameter, `the ClientHello's message_seq ${hello.messageSeq} leaves the handshake no room`);
    }
    this.suite = suite;
    this.tagLength = suite === CipherSuite.TLS_PSK_WITH_AES_128_CCM_8 ? TAG_LENGTH.TLS_PSK_WITH_AES_128_CCM_8 : TAG_LENGTH.TLS_PSK_WITH_AES_128_CCM;
    this.ems = ch.extendedMasterSecret;
    this.cids = ch.connectionId !== undefined && cid !== undefined ? { receive: cid, send: Buffer.from(ch.connectionId) } : undefined;
    this.clientRandom = ch.random;
    this.epoch0Seq = recordSeq;
    this.expect = hello.messageSeq + 1;
    // The server's message_seq goes on from its HelloVerifyRequest, which took the first ClientHello's (§4.2.2).
    this.serverSeq = hello.messageSeq;
    this.transcript.push(handshakeHashInput(hello));
    this.queue(HandshakeType.server_hello, encodeServerHello({
      random: this.serverRandom, sessionId: Buffer.alloc(0), cipherSuite: suite,
      extendedMasterSecret: this.ems,
      renegotiationInfo: ch.emptyRenegotiationInfoScsv || ch.renegotiationInfo !== undefined,
      ...(this.cids ? { connectionId: this.cids.receive } : {}),
    }));
    // RFC 4279 §2: with no hint to give, the ServerKeyExchange is left out.
    if (hint !== undefined && hint.length > 0) this.queue(HandshakeType.server_key_exchange, encodeServerKeyExchangePsk(hint));
    this.queue(HandshakeType.server_hello_done, encodeServerHelloDone());
  }

  /** The CID this server receives once the handshake completes (RFC 9146 §3); undefined when none was negotiated. */
  get cid(): Buffer | undefined {
    return this.cids?.receive;
  }

  /** The ServerHello flight, in epoch 0, with fresh record sequence numbers (also for a retransmission, §4.2.4); none once the numbers are used up. */
  flightDatagrams(): Buffer[] {
    if (this.master !== undefined || this.epoch0Seq + this.flight.length - 1 > MAX_SEQUENCE_NUMBER) return [];
    return [Buffer.concat(this.flight.map((m) => this.plainRecord(ContentType.handshake, encodeHandshake(m))))];
  }

  /** Takes one record from the client. Throws HandshakeFailure when the handshake cannot complete. */
  async receive(r: DtlsRecord): Promise<Step> {
    if (r.epoch === 0 && r.type === ContentType.handshake) return this.plainHandshake(r);
    if (r.epoch === 0 && r.type === ContentType.change_cipher_spec) {
      if (this.protection !== undefined && r.fragment.length === 1 && r.fragment[0] === 1) this.cipherSpecChanged = true;
      return { send: [] };
    }
    // With a CID for the server, the client's Finished is a tls12_cid record (RFC 9146 §3).
    const protectedType = this.cids ? ContentType.tls12_cid : ContentType.handshake;
    if (r.epoch === 1 && r.type === protectedType && this.cipherSpecChanged && this.protection) {
      const opened = this.protection.openRecord(r);
      // The first protected record fails: the keys differ, a wrong PSK or an unknown identity alike (RFC 4279 §2).
      if (opened === undefined) throw new HandshakeFailure(AlertDescription.bad_record_mac, 'the client\'s Finished does not authenticate', true);
      // As in the plain format, only a handshake record can be the Finished; others are left alone.
      if (opened.type !== ContentType.handshake) return { send: [] };
      return this.finished(opened.content);
    }
    return { send: [] };
  }

  /** A fatal alert in epoch 0, as the client reads until it has the server's ChangeCipherSpec; none once the numbers are used up. */
  alertDatagram(description: number): Buffer[] {
    if (this.epoch0Seq > MAX_SEQUENCE_NUMBER) return [];
    return [this.plainRecord(ContentType.alert, encodeAlert({ level: AlertLevel.fatal, description }))];
  }

  private async plainHandshake(r: DtlsRecord): Promise<Step> {
    const send: Buffer[] = [];
    for (const f of decodeHandshakeFragments(r.fragment)) {
      if (f.messageSeq < this.expect) {
        // A repeat of the client's last flight: ours was lost, send it again (§4.2.4).
        if (f.msgType === HandshakeType.client_hello) send.push(...this.flightDatagrams());
        continue;
      }
      if (f.messageSeq !== this.expect || f.msgType !== HandshakeType.client_key_exchange || this.master !== undefined) continue;
      let whole = this.reassembly.get(f.messageSeq);
      if (whole === undefined) this.reassembly.set(f.messageSeq, (whole = new HandshakeReassembly(f)));
      else whole.add(f);
      if (!whole.complete) continue;
      this.reassembly.delete(f.messageSeq);
      await this.clientKeyExchange(whole.message());
    }
    return { send };
  }

  private async clientKeyExchange(m: HandshakeMessage): Promise<void> {
    const { pskIdentity } = parseClientKeyExchangePsk(m.body);
    this.transcript.push(handshakeHashInput(m));
    this.expect++;
    // RFC 4279 §2: an unknown identity goes on with a random key, to fail at Finished like a wrong key.
    const psk = (await this.pskFor(pskIdentity)) ?? randomBytes(16);
    const premaster = pskPremasterSecret(psk);
    const randoms = { clientRandom: this.clientRandom, serverRandom: this.serverRandom };
    this.master = this.ems ? extendedMasterSecret(premaster, this.hash()) : masterSecret(premaster, randoms);
    this.identity = pskIdentity;
    this.protection = new Protection(keyExpansion(this.master, randoms), this.tagLength, this.cids);
  }

  private finished(content: Buffer): Step {
    const fragments = decodeHandshakeFragments(content);
    const f = fragments[0];
    // RFC 7925 §4.2 sizes make Finished a single unfragmented message.
    if (fragments.length !== 1 || f === undefined || f.msgType !== HandshakeType.finished || f.messageSeq !== this.expect || f.fragmentLength !== f.length) {
      throw new HandshakeFailure(AlertDescription.unexpected_message, 'the first protected record is not the client\'s whole Finished', true);
    }
    const master = this.master!;
    const { verifyData: received } = parseFinished(f.body);
    if (!checkVerifyData(master, 'client', this.hash(), received)) throw new HandshakeFailure(AlertDescription.decrypt_error, 'the client\'s verify_data is wrong', true);
    const message: HandshakeMessage = { msgType: HandshakeType.finished, messageSeq: this.expect, body: f.body };
    this.transcript.push(handshakeHashInput(message));
    const ours: HandshakeMessage = { msgType: HandshakeType.finished, messageSeq: this.serverSeq, body: encodeFinished(verifyData(master, 'server', this.hash())) };
    const protection = this.protection!;
    // A copy of its own: the encoding is a slice of Node's shared 8 KiB Buffer pool, which a
    // session kept for hours would pin whole for these 24 bytes.
    const encoded = encodeHandshake(ours);
    const finished = Buffer.allocUnsafeSlow(encoded.length);
    encoded.copy(finished);
    const flight = new FinalFlight(protection, finished, this.epoch0Seq);
    const finalFlight = flight.datagrams.bind(flight);
    return { send: finalFlight(), established: { protection, identity: this.identity!, suite: this.suite, finalFlight, ...(this.cids ? { cid: this.cids.receive } : {}) } };
  }

  private queue(msgType: number, body: Buffer): void {
    const m = { msgType, messageSeq: this.serverSeq++, body };
    this.flight.push(m);
    this.transcript.push(handshakeHashInput(m));
  }

  private hash(): Buffer {
    const h = createHash('sha256');
    for (const b of this.transcript) h.update(b);
    return h.digest();
  }

  private plainRecord(type: ContentType, fragment: Buffer): Buffer {
    return encodeRecord({ type, version: DTLS_1_2, epoch: 0, sequenceNumber: this.epoch0Seq++, fragment });
  }
}

/**
 * The server's last flight (ChangeCipherSpec, Finished), kept by the session for resends. It holds
 * only what a resend needs, not the handshake's transcript and flight. An object and a bound
 * method rather than a closure: tsx names every closure it compiles by redefining its `name`,
 * which gives each one a property dictionary of its own (some 250 bytes per session).
 */
class FinalFlight {
  private readonly protection: Protection;
  private readonly finished: Buffer;
  private epoch0Seq: number;

  constructor(protection: Protection, finished: Buffer, epoch0Seq: number) {
    this.protection = protection;
    this.finished = finished;
    this.epoch0Seq = epoch0Seq;
  }

  /** Each repeat of the client's Finished draws one epoch-0 number: once they are used up, nothing is sent again. */
  datagrams(): Buffer[] {
    if (this.epoch0Seq > MAX_SEQUENCE_NUMBER) return [];
    return [Buffer.concat([
      encodeRecord({ type: ContentType.change_cipher_spec, version: DTLS_1_2, epoch: 0, sequenceNumber: this.epoch0Seq++, fragment: encodeChangeCipherSpec() }),
      this.protection.sealRecord(ContentType.handshake, this.finished),
    ])];
  }
}

/** DecodeError and HandshakeFailure are the peer's fault; anything else is a bug. */
export function isPeerError(e: unknown): e is DecodeError | HandshakeFailure {
  return e instanceof DecodeError || e instanceof HandshakeFailure;
}
