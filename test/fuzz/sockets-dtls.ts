/**
 * The DTLS socket fuzzer (targets "sockets-dtls" and "sockets-dtls-layer" of `npm run fuzz`, family
 * sockets). The target (sockets-dtls-target.ts) is a whole Ferry's coaps socket, or a DtlsSocket
 * alone with the real PSK look-up and a node-coap Server behind it. Several loopback sources
 * (sockets-dtls-peer.ts) each run a real handshake with the simulator's client (half of them with
 * a Connection ID, RFC 9146), register their device over it, then send seeded mutations of those
 * flights (sockets-dtls-mutate.ts): blind datagrams built from the templates and the session's keys
 * (records, handshake fragments, ClientHello and ClientKeyExchange bodies, sealed records of every
 * type, ciphertext damage, alerts, ChangeCipherSpec, several records a datagram, CoAP in the clear),
 * scripted handshakes that fetch a cookie for a mutated ClientHello and go on with a mutated
 * ClientKeyExchange, ChangeCipherSpec and Finished, records of a CID session sent from another
 * source's address, and passers-by from new ports that leave a half-open handshake. Each source
 * does a fresh genuine handshake now and then, so the fuzz reaches live sessions again.
 *
 * Every `checkEvery` datagrams a CHECK: a new source port runs the simulator's handshake and the
 * target's clean request over it (a Register, 2.01; GET /ping, 2.05). Findings: an 'error' event of
 * the DtlsSocket or the CoAP server, an error line in the server's log, an uncaught exception or
 * unhandled rejection, half-open handshakes or sessions past their caps or past one per source
 * port, a request reaching CoAP without a PSK identity, a failed check, a CoAP 5.xx to anyone. Each
 * is printed with the seed and the datagram (hex) that drew it, and the datagrams since the last
 * good check are written to a file, a line each (source port, hex).
 * A seed fixes the sequence of moves; the cookies, randoms and keys in them are each run's own.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { generate } from 'coap-packet';
import { register, type FuzzOutcome } from './registry.ts';
import {
  CT, HT, MAX_SEQ, Rng, alertContent, ccsContent, ckeBody, encodeFragment, encodeHello, encodeRaw, fragmentMessage, genuineHello,
  mutateBytes, mutateFragmentHeader, mutateHello, mutateRecordHeader, offersCid, offersEms, parseFragments, seqNear, serverHelloCid, splitRaw, wholeMessage,
  type HelloDraft, type RawFragment, type RawRecord,
} from './sockets-dtls-mutate.ts';
import { FuzzPeer, clientFinished, deriveKeys, openFrom, seal, type SessionKeys } from './sockets-dtls-peer.ts';
import { DEVICES, check, startTarget, type Surface, type Target, type TargetKind } from './sockets-dtls-target.ts';
import { DatagramFuzzer, encodeDraft, type Learned } from './sockets-mutate.ts';

export interface DtlsFuzzOptions {
  /** A whole Ferry's coaps socket, or the DTLS layer alone (sockets-dtls-target.ts). */
  target: TargetKind;
  /** Fuzzed datagrams to send, over all sources. */
  inputs: number;
  seed: number;
  /** Loopback sources sending them (4). */
  peers?: number;
  /** A check every this many datagrams (250). */
  checkEvery?: number;
  progress?: (sent: number, line: string) => void;
}

export interface DtlsFuzzReport {
  target: TargetKind;
  seed: number;
  sent: number;
  /** Scripted handshakes: started, with a cookie fetched, with the server's flight, completed. */
  scripts: { run: number; cookie: number; flight: number; established: number };
  /** Genuine handshakes of the fuzz sources (on top of the checks'). */
  rehandshakes: number;
  /** Genuine handshakes of the fuzz sources that failed once (a late answer to the fuzz) and passed on a retry. */
  rehandshakeRetries: number;
  /** Peers from new ports that left a half-open handshake behind. */
  passersBy: number;
  /** Records of CID sessions sent from another source's address (RFC 9146 §6). */
  elsewhere: number;
  /** This process's JavaScript heap in use (server and fuzzer alike), MB: after setup, and the largest at a check. */
  heapMb: { start: number; max: number };
  checks: number;
  checksPassed: number;
  /** The DtlsSocket's stats at the end, and the largest counts seen. */
  stats: Record<string, number>;
  maxCounts: { sessions: number; halfOpen: number };
  caps: { sessions: number; halfOpen: number };
  /** CoAP answers the fuzz sources read, by code; requests the CoAP server got. */
  answers: Record<string, number>;
  requests: number;
  failures: string[];
  ms: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ── the fuzz sources' moves ──

type Blind = 'record-header' | 'handshake-header' | 'fragments' | 'hello-body' | 'cke' | 'sealed' | 'ciphertext' | 'plain-alert' | 'ccs' | 'multi' | 'bytes' | 'replay' | 'plain-coap';
const BLIND: ReadonlyArray<readonly [Blind, number]> = [
  ['record-header', 14], ['handshake-header', 10], ['fragments', 7], ['hello-body', 10], ['cke', 6], ['sealed', 18],
  ['ciphertext', 8], ['plain-alert', 4], ['ccs', 4], ['multi', 8], ['bytes', 8], ['replay', 3], ['plain-coap', 3],
];

interface Source {
  peer: FuzzPeer;
  /** The DTLS socket it sends to. */
  surface: Surface;
  rng: Rng;
  coap: DatagramFuzzer;
  /** Which device's identity its genuine handshakes use. */
  device: (typeof DEVICES)[number];
  /** Whether its genuine handshakes offer connection_id (RFC 9146): its records then go as tls12_cid. */
  useCid: boolean;
  /** Moves until the next genuine handshake. */
  untilHandshake: number;
  history: Buffer[];
}

/** A CoAP message for the inside of a protected record: a valid request now and then, mostly mutated. */
function coapPlaintext(s: Source): Buffer {
  if (s.rng.chance(0.3)) {
    const ping = generate({ code: 'GET', confirmable: s.rng.chance(0.7), messageId: s.rng.int(0x10000), token: s.rng.bytes(s.rng.int(9)), options: [{ name: 'Uri-Path', value: Buffer.from(s.rng.pick(['ping', 'rd', 'fw', 'x'])) }] });
    return s.rng.chance(0.5) ? ping : mutateBytes(s.rng, ping);
  }
  return s.rng.chance(0.3) ? encodeDraft(s.coap.template(s.rng.pick(['register', 'get-fw', 'ping', 'observe', 'block1'] as const))).bytes : s.coap.next().bytes;
}

/** A clean LwM2M Register of `endpoint` (the device's own: its identity may register it). */
function cleanRegister(endpoint: string, r: Rng): Buffer {
  return generate({
    code: 'POST', confirmable: true, messageId: r.int(0x10000), token: r.bytes(4), payload: Buffer.from('</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0>,</5/0>'),
    options: [{ name: 'Uri-Path', value: Buffer.from('rd') }, { name: 'Content-Format', value: Buffer.from([40]) },
      ...[`ep=${endpoint}`, 'lt=300', 'lwm2m=1.1', 'b=U'].map((q) => ({ name: 'Uri-Query' as const, value: Buffer.from(q) }))],
  });
}

function plainRecord(s: Source, type: number, fragment: Buffer, seq?: number): Buffer {
  return encodeRaw({ type, version: 0xfefd, epoch: 0, seq: seq ?? s.peer.plainSeq++, fragment });
}

/** A protected record of the session's, of any type: the main road to the CoAP server and to the session's record handling. */
function sealed(s: Source, r: Rng): Buffer {
  const type = r.weighted([[CT.appData, 10], [CT.alert, 3], [CT.ccs, 1], [CT.handshake, 2], [-1, 1]] as const);
  const t = type === -1 ? r.pick([0, 19, 24, CT.cid, 255]) : type;
  const content = t === CT.appData ? coapPlaintext(s)
    : t === CT.alert ? alertContent(r)
      : t === CT.ccs ? ccsContent(r)
        : t === CT.handshake ? r.pick([wholeMessage(HT.finished, 2, r.bytes(12)), wholeMessage(HT.clientHello, 0, encodeHello(genuineHello(r.bytes(32)))), r.bytes(r.range(0, 40)), Buffer.alloc(0)])
          : r.bytes(r.range(0, 30));
  const seq = r.chance(0.8) ? undefined : seqNear(r, s.peer.writeSeq);
  const epoch = r.chance(0.95) ? 1 : r.pick([0, 2, 0xffff]);
  const version = r.chance(0.95) ? 0xfefd : r.pick([0xfeff, 0x0303, 0xffff]);
  // With a CID session: now and then the plain format it no longer uses, or a CID not its own (RFC 9146 §6: dropped).
  const cid = s.peer.keys?.cid === undefined || r.chance(0.85) ? undefined : r.pick([null, r.bytes(6), r.bytes(r.range(1, 8)), Buffer.alloc(6)]);
  // A fatal alert or close_notify of ours ends the session: a genuine handshake soon brings one back.
  if (t === CT.alert && content.length === 2 && (content[0] === 2 || content[1] === 0) && seq === undefined && epoch === 1) s.untilHandshake = Math.min(s.untilHandshake, r.range(1, 10));
  return s.peer.seal(t, content, seq, epoch, version, cid);
}

function template(s: Source, r: Rng): Buffer {
  const t = s.peer.templates!;
  return r.pick([t.hello, t.cookieHello, t.finishFlight, sealed(s, r), plainRecord(s, CT.alert, alertContent(r)), plainRecord(s, CT.ccs, Buffer.from([1]))]);
}

/** The handshake message a blind move starts from: the ClientHello with this port's cookie, or a ClientKeyExchange. */
function handshakeMessage(s: Source, r: Rng): { msgType: number; seq: number; body: Buffer } {
  const t = s.peer.templates!;
  return r.chance(0.6)
    ? { msgType: HT.clientHello, seq: 1, body: encodeHello(genuineHello(r.chance(0.5) ? t.random : r.bytes(32), t.cookie, t.useCid ? Buffer.alloc(0) : undefined)) }
    : { msgType: HT.clientKeyExchange, seq: r.pick([1, 2, 3]), body: ckeBody(r, Buffer.from(s.device.identity), r.chance(0.6)) };
}

/** The records of one of this source's datagrams (its CID's length for tls12_cid ones). */
function recordsOf(s: Source, d: Buffer): RawRecord[] {
  return splitRaw(d, s.peer.keys?.cid?.length ?? 0);
}

function fragmentsInRecords(s: Source, r: Rng, frags: RawFragment[]): Buffer[] {
  const records: Buffer[] = [];
  for (let i = 0; i < frags.length;) {
    const n = r.range(1, 2);
    records.push(plainRecord(s, CT.handshake, Buffer.concat(frags.slice(i, i + n).map(encodeFragment))));
    i += n;
  }
  return r.chance(0.5) ? [Buffer.concat(records)] : records;
}

function blind(s: Source, kind: Blind): Buffer[] {
  const r = s.rng;
  const t = s.peer.templates!;
  switch (kind) {
    case 'record-header': {
      const recs = recordsOf(s, template(s, r));
      if (recs.length === 0) return [r.bytes(r.range(1, 40))];
      const i = r.int(recs.length);
      recs[i] = mutateRecordHeader(r, recs[i]!);
      return [Buffer.concat(recs.map(encodeRaw))];
    }
    case 'handshake-header': {
      const m = handshakeMessage(s, r);
      const f: RawFragment = { msgType: m.msgType, length: m.body.length, messageSeq: m.seq, offset: 0, fragmentLength: m.body.length, body: m.body };
      const frags = [mutateFragmentHeader(r, f)];
      if (r.chance(0.2)) frags.push(mutateFragmentHeader(r, f));
      // The record's own sequence number at an edge now and then: the server's answers count on from it.
      const seq = r.chance(0.15) ? r.pick([MAX_SEQ, MAX_SEQ - 1, MAX_SEQ - 3, 2 ** 47]) : undefined;
      return [plainRecord(s, CT.handshake, Buffer.concat(frags.map(encodeFragment)), seq)];
    }
    case 'fragments': {
      const m = handshakeMessage(s, r);
      return fragmentsInRecords(s, r, fragmentMessage(r, m.msgType, m.seq, m.body));
    }
    case 'hello-body': {
      const h = mutateHello(r, genuineHello(r.chance(0.5) ? t.random : r.bytes(32), t.cookie, t.useCid ? Buffer.alloc(0) : undefined));
      const seq = r.chance(0.1) ? r.pick([MAX_SEQ, MAX_SEQ - 2]) : undefined;
      return [plainRecord(s, CT.handshake, wholeMessage(HT.clientHello, r.chance(0.8) ? 1 : r.pick([0, 2, 0xffff]), encodeHello(h)), seq)];
    }
    case 'cke': {
      const parts = [plainRecord(s, CT.handshake, wholeMessage(HT.clientKeyExchange, r.pick([1, 2, 3, 0xffff]), ckeBody(r, Buffer.from(s.device.identity), true)))];
      if (r.chance(0.5)) parts.push(plainRecord(s, CT.ccs, ccsContent(r)));
      if (r.chance(0.5)) parts.push(s.peer.seal(CT.handshake, wholeMessage(HT.finished, 3, r.bytes(12)), r.int(4)));
      return [Buffer.concat(parts)];
    }
    case 'sealed':
      return [sealed(s, r)];
    case 'ciphertext': {
      const whole = sealed(s, r);
      const rec = recordsOf(s, whole)[0];
      if (rec === undefined) return [whole];
      let frag = Buffer.from(rec.fragment);
      switch (r.int(5)) {
        case 0: frag[r.int(frag.length)]! ^= 1 << r.int(8); break;
        case 1: frag = frag.subarray(0, frag.length - r.range(1, Math.min(frag.length, 16))); break;
        case 2: frag = frag.subarray(0, r.int(Math.min(frag.length, 24))); break;
        case 3: frag = Buffer.concat([frag, r.bytes(r.range(1, 16))]); break;
        default: rec.seq = seqNear(r, rec.seq); break; // the header no longer matches the nonce and AAD
      }
      return [encodeRaw({ ...rec, fragment: frag })];
    }
    case 'plain-alert':
      return [plainRecord(s, CT.alert, alertContent(r), r.chance(0.8) ? undefined : seqNear(r, s.peer.plainSeq))];
    case 'ccs':
      return [r.chance(0.6) ? plainRecord(s, CT.ccs, ccsContent(r)) : s.peer.seal(CT.ccs, ccsContent(r))];
    case 'multi': {
      const parts = Array.from({ length: r.range(2, 5) }, () => blind(s, r.pick(['record-header', 'sealed', 'plain-alert', 'ccs', 'hello-body', 'cke', 'handshake-header'] as const))[0]!);
      if (r.chance(0.3)) parts.push(r.bytes(r.range(1, 13)));
      return [Buffer.concat(parts)];
    }
    case 'bytes':
      return [mutateBytes(r, template(s, r))];
    case 'plain-coap':
      // CoAP in the clear on the DTLS port (first byte 64–127, RFC 7983 §7): the layer hands it to its plain side.
      return [coapPlaintext(s)];
    default:
      return [s.history.length > 0 ? r.pick(s.history) : t.cookieHello];
  }
}

// ── scripted handshakes ──

interface Script {
  hello: HelloDraft;
  helloSeq: number;
  helloRecordSeq: number | undefined;
  helloRecordVersion: number;
  flipCookie: boolean;
  /** Index of DEVICES whose identity goes in the ClientKeyExchange; -1: a broken or unknown one. */
  identity: number;
  cke: Buffer;
  ckeShape: 'whole' | 'fragments' | 'header';
  ccs: 'normal' | 'none' | 'twice' | 'first' | 'epoch1' | 'bad';
  finished: 'good' | 'bad-verify' | 'wrong-seq' | 'plain' | 'cut' | 'replayed-seq' | 'far-seq';
  split: boolean;
  /** Application data records sent once the handshake completed. */
  after: number;
  rng: Rng;
}

function planScript(s: Source): Script {
  const r = s.rng;
  const clean = r.chance(0.35);
  const base = genuineHello(r.bytes(32), Buffer.alloc(0), r.chance(0.3) ? r.pick([Buffer.alloc(0), Buffer.alloc(0), r.bytes(4)]) : undefined);
  const identity = clean || r.chance(0.5) ? r.int(DEVICES.length) : -1;
  return {
    hello: clean || r.chance(0.4) ? base : mutateHello(r, base),
    helloSeq: clean || r.chance(0.8) ? 1 : r.pick([0, 2, 0xfffc, 0xfffd, 0xfffe, 0xffff]),
    helloRecordSeq: clean || r.chance(0.8) ? undefined : r.pick([MAX_SEQ, MAX_SEQ - 1, MAX_SEQ - 2, MAX_SEQ - 4, MAX_SEQ - 8, 2 ** 32]),
    helloRecordVersion: r.chance(0.8) ? 0xfefd : 0xfeff,
    flipCookie: !clean && r.chance(0.05),
    identity,
    cke: ckeBody(r, Buffer.from(DEVICES[Math.max(0, identity)]!.identity), identity === -1),
    ckeShape: clean ? 'whole' : r.weighted([['whole', 4], ['fragments', 3], ['header', 1]] as const),
    ccs: clean ? 'normal' : r.weighted([['normal', 8], ['none', 1], ['twice', 1], ['first', 1], ['epoch1', 1], ['bad', 1]] as const),
    finished: clean ? 'good' : r.weighted([['good', 8], ['bad-verify', 1], ['wrong-seq', 1], ['plain', 1], ['cut', 1], ['replayed-seq', 1], ['far-seq', 1]] as const),
    split: r.chance(0.3),
    after: r.int(4),
    rng: new Rng(r.u32()),
  };
}

/** The cookie of a HelloVerifyRequest in `d`, if it holds one. */
function hvrCookie(d: Buffer): Buffer | undefined {
  for (const rec of splitRaw(d)) {
    if (rec.type !== CT.handshake || rec.epoch !== 0) continue;
    const f = parseFragments(rec.fragment)[0];
    if (f?.msgType === HT.helloVerifyRequest && f.body.length >= 3) return f.body.subarray(3, 3 + f.body[2]!);
  }
  return undefined;
}

/** The server's flight (ServerHello … ServerHelloDone) in `d`, or 'alert'. */
function serverFlight(d: Buffer): Array<{ msgType: number; seq: number; body: Buffer }> | 'alert' | undefined {
  const msgs: Array<{ msgType: number; seq: number; body: Buffer }> = [];
  for (const rec of splitRaw(d)) {
    if (rec.type === CT.alert && rec.epoch === 0) return 'alert';
    if (rec.type !== CT.handshake || rec.epoch !== 0) continue;
    for (const f of parseFragments(rec.fragment)) if (f.msgType !== HT.helloVerifyRequest) msgs.push({ msgType: f.msgType, seq: f.messageSeq, body: f.body });
  }
  return msgs.some((m) => m.msgType === HT.serverHelloDone) ? msgs : undefined;
}

/**
 * How long a script waits for an answer (ms): the cookie and the server's flight are written as the
 * datagram is read; the Finished waits on the PSK look-up. A late answer only ends the script early.
 */
const WAIT_MS = { hello: 40, finished: 100 };

/** Runs one scripted handshake; calls `send` for each datagram (they count as inputs). */
async function runScript(s: Source, p: Script, send: (d: Buffer) => Promise<void>, report: DtlsFuzzReport['scripts']): Promise<void> {
  const peer = s.peer;
  const r = p.rng;
  report.run++;
  peer.drain();
  await send(encodeRaw({ type: CT.handshake, version: 0xfeff, epoch: 0, seq: peer.plainSeq++, fragment: wholeMessage(HT.clientHello, 0, encodeHello({ ...p.hello, cookie: Buffer.alloc(0) })) }));
  const cookie = await peer.wait(hvrCookie, WAIT_MS.hello);
  if (cookie === undefined) return;
  report.cookie++;
  const c = Buffer.from(cookie);
  if (p.flipCookie && c.length > 0) c[r.int(c.length)]! ^= 1;
  const helloBody = encodeHello({ ...p.hello, cookie: c });
  await send(encodeRaw({ type: CT.handshake, version: p.helloRecordVersion, epoch: 0, seq: p.helloRecordSeq ?? peer.plainSeq++, fragment: wholeMessage(HT.clientHello, p.helloSeq, helloBody) }));
  const flight = await peer.wait(serverFlight, WAIT_MS.hello);
  if (flight === undefined || flight === 'alert') return;
  report.flight++;
  const sh = flight.find((m) => m.msgType === HT.serverHello);
  if (!sh || sh.body.length < 38) return;
  const suite = sh.body.readUInt16BE(35 + sh.body[34]!);
  const ckeSeq = (p.helloSeq + 1) & 0xffff;
  const transcript = [wholeMessage(HT.clientHello, p.helloSeq, helloBody), ...flight.map((m) => wholeMessage(m.msgType, m.seq, m.body)), wholeMessage(HT.clientKeyExchange, ckeSeq, p.cke)];
  const psk = p.identity >= 0 ? DEVICES[p.identity]!.key : randomBytes(16);
  // RFC 9146: the server's CID goes on our protected records; one we asked for comes on its records.
  const cid = offersCid(p.hello) !== undefined ? serverHelloCid(sh.body) : undefined;
  const ownCid = cid === undefined ? undefined : offersCid(p.hello);
  const keys: SessionKeys = { ...deriveKeys(psk, transcript, p.hello.random, sh.body.subarray(2, 34), offersEms(p.hello), suite === 0xc0a4 ? 16 : 8), ...(cid ? { cid } : {}) };
  const verify = clientFinished(keys, transcript);
  if (p.finished === 'bad-verify') verify[r.int(12)]! ^= 1 << r.int(8);
  const finishedMsg = wholeMessage(HT.finished, p.finished === 'wrong-seq' ? (ckeSeq + r.range(1, 3)) & 0xffff : (ckeSeq + 1) & 0xffff, verify);
  const plainSeq = (): number => peer.plainSeq++;

  const ckeRecords = p.ckeShape === 'whole' ? [encodeRaw({ type: CT.handshake, version: 0xfefd, epoch: 0, seq: plainSeq(), fragment: wholeMessage(HT.clientKeyExchange, ckeSeq, p.cke) })]
    : p.ckeShape === 'fragments' ? fragmentsInRecords(s, r, fragmentMessage(r, HT.clientKeyExchange, ckeSeq, p.cke))
      : [encodeRaw({ type: CT.handshake, version: 0xfefd, epoch: 0, seq: plainSeq(), fragment: encodeFragment(mutateFragmentHeader(r, { msgType: HT.clientKeyExchange, length: p.cke.length, messageSeq: ckeSeq, offset: 0, fragmentLength: p.cke.length, body: p.cke })) })];
  const ccsRecord = (): Buffer => encodeRaw({ type: CT.ccs, version: 0xfefd, epoch: 0, seq: plainSeq(), fragment: Buffer.from([1]) });
  const ccs: Buffer[] = p.ccs === 'none' ? [] : p.ccs === 'twice' ? [ccsRecord(), ccsRecord()] : p.ccs === 'epoch1' ? [seal(keys.write, CT.ccs, Buffer.from([1]), 0, 1, 0xfefd, cid)]
    : p.ccs === 'bad' ? [encodeRaw({ type: CT.ccs, version: 0xfefd, epoch: 0, seq: plainSeq(), fragment: ccsContent(r) })] : [ccsRecord()];
  let finSeq = p.ccs === 'epoch1' ? 1 : 0;
  if (p.finished === 'far-seq') finSeq = r.pick([MAX_SEQ, 2 ** 40, 65]);
  let fin = p.finished === 'plain' ? encodeRaw({ type: CT.handshake, version: 0xfefd, epoch: 0, seq: plainSeq(), fragment: finishedMsg }) : seal(keys.write, CT.handshake, finishedMsg, finSeq, 1, 0xfefd, cid);
  if (p.finished === 'cut') fin = fin.subarray(0, fin.length - r.range(1, 12));
  const records = p.ccs === 'first' ? [...ccs, ...ckeRecords, fin] : [...ckeRecords, ...ccs, fin];
  if (p.finished === 'replayed-seq') records.push(seal(keys.write, CT.handshake, finishedMsg, finSeq, 1, 0xfefd, cid));
  peer.drain();
  if (p.split) for (const d of records) await send(d);
  else await send(Buffer.concat(records));

  // The server's Finished, or its fatal alert (a wrong key, an unknown identity, a broken message).
  const done = await peer.wait((d) => {
    const recs = splitRaw(d, ownCid?.length ?? 0);
    if (recs.some((rec) => rec.epoch === 1 && openFrom(keys.read, rec)?.type === CT.handshake)) return 'finished';
    return recs.some((rec) => rec.type === CT.alert && rec.epoch === 0) ? 'alert' : undefined;
  }, WAIT_MS.finished);
  if (done !== 'finished') return;
  report.established++;
  peer.keys = keys;
  peer.ownCidLength = ownCid?.length ?? 0;
  peer.writeSeq = finSeq + 1 + (p.finished === 'replayed-seq' ? 1 : 0);
  // GETs drawn from the script's own generator: what the server answered does not move the source's.
  for (let i = 0; i < p.after; i++) {
    await send(peer.seal(CT.appData, generate({ code: 'GET', confirmable: true, messageId: r.int(0x10000), token: r.bytes(4), options: [{ name: 'Uri-Path', value: Buffer.from(r.pick(['ping', 'x'])) }] })));
  }
}

/**
 * A peer from a new port that goes as far as a half-open handshake (the cookie exchange, the
 * cookie'd ClientHello, maybe a piece of a ClientKeyExchange) and is gone: the layer's timer must
 * clear what it left.
 */
async function passerBy(port: number, r: Rng, sent: (port: number, d: Buffer) => void, report: DtlsFuzzReport): Promise<void> {
  const peer = await FuzzPeer.open(port);
  report.passersBy++;
  try {
    const hello = genuineHello(r.bytes(32));
    const send = async (d: Buffer): Promise<void> => { sent(peer.port, d); await peer.send(d); };
    await send(encodeRaw({ type: CT.handshake, version: 0xfeff, epoch: 0, seq: 0, fragment: wholeMessage(HT.clientHello, 0, encodeHello(hello)) }));
    const cookie = await peer.wait(hvrCookie, WAIT_MS.hello);
    if (cookie === undefined) return;
    await send(encodeRaw({ type: CT.handshake, version: 0xfefd, epoch: 0, seq: 1, fragment: wholeMessage(HT.clientHello, 1, encodeHello({ ...hello, cookie })) }));
    if (r.chance(0.5)) {
      const cke = ckeBody(r, Buffer.from(DEVICES[0]!.identity), false);
      const piece = fragmentMessage(r, HT.clientKeyExchange, 2, cke)[0]!;
      await send(encodeRaw({ type: CT.handshake, version: 0xfefd, epoch: 0, seq: 2, fragment: encodeFragment({ ...piece, body: piece.body.subarray(0, Math.max(0, cke.length - 1)), fragmentLength: Math.min(piece.fragmentLength, cke.length - 1) }) }));
    }
  } finally {
    await peer.close();
  }
}

// ── the run ──

export async function fuzzDtls(o: DtlsFuzzOptions): Promise<DtlsFuzzReport> {
  const started = performance.now();
  const checkEvery = o.checkEvery ?? 250;
  const failures: string[] = [];
  const report: DtlsFuzzReport = {
    target: o.target, seed: o.seed, sent: 0, scripts: { run: 0, cookie: 0, flight: 0, established: 0 }, rehandshakes: 0, rehandshakeRetries: 0, passersBy: 0, elsewhere: 0, heapMb: { start: 0, max: 0 }, checks: 0, checksPassed: 0,
    stats: {}, maxCounts: { sessions: 0, halfOpen: 0 }, caps: { sessions: 0, halfOpen: 0 }, answers: {}, requests: 0, failures, ms: 0,
  };
  const uncaught: string[] = [];
  const onUncaught = (e: unknown): void => { uncaught.push(`uncaught: ${e instanceof Error ? (e.stack ?? e.message).split('\n').slice(0, 6).join(' | ') : String(e)}`); };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  const target: Target = await startTarget(o.target);
  report.caps = target.surfaces[0]!.caps;
  const sources: Source[] = [];
  // The datagrams since the last good check, for the replay file.
  const window: string[] = [];
  const seen = { errors: 0, uncaught: 0, withoutIdentity: 0 };
  try {
    const root = new Rng(o.seed);
    // What the CoAP templates ask for: the target's image names; nothing learned from answers (a seed fixes the moves).
    const learned: Learned = { imageIds: target.imageNames, imageBlocks: 4, registrations: [], echoes: [], serverRequests: [], useLearned: false };
    for (let i = 0; i < (o.peers ?? 4); i++) {
      // Sources take the surfaces in turn, and within each, one in two has a Connection ID.
      const surface = target.surfaces[i % target.surfaces.length]!;
      const peer = await FuzzPeer.open(surface.port);
      const device = DEVICES[i % DEVICES.length]!;
      const useCid = Math.floor(i / target.surfaces.length) % 2 === 1;
      await peer.handshake(Buffer.from(device.identity), device.key, useCid);
      peer.detach();
      const seed = root.u32();
      sources.push({ peer, surface, rng: new Rng(seed), coap: new DatagramFuzzer(seed ^ 0x5eed, surface.registers ? 'coap' : 'download', learned), device, useCid, untilHandshake: 150, history: [] });
    }

    const record = (port: number, d: Buffer): void => {
      report.sent++;
      window.push(`${port} ${d.toString('hex')}`);
      if (window.length > 4 * checkEvery) window.splice(0, window.length - 2 * checkEvery);
    };
    const send = (s: Source) => async (d: Buffer): Promise<void> => {
      record(s.peer.port, d);
      s.history.push(d);
      if (s.history.length > 32) s.history.splice(0, 16);
      await s.peer.send(d);
    };
    const heapMb = (): number => Math.round(process.memoryUsage().heapUsed / 1024 / 102.4) / 10;
    report.heapMb = { start: heapMb(), max: heapMb() };
    const findings = (at: string): void => {
      report.heapMb.max = Math.max(report.heapMb.max, heapMb());
      for (const surface of target.surfaces) {
        const c = surface.dtls.counts;
        report.maxCounts.sessions = Math.max(report.maxCounts.sessions, c.sessions);
        report.maxCounts.halfOpen = Math.max(report.maxCounts.halfOpen, c.halfOpen);
        if (c.sessions > surface.caps.sessions) failures.push(`${at}: ${c.sessions} sessions on ${surface.name}, over the cap of ${surface.caps.sessions}`);
        if (c.halfOpen > surface.caps.halfOpen) failures.push(`${at}: ${c.halfOpen} half-open handshakes on ${surface.name}, over the cap of ${surface.caps.halfOpen}`);
      }
      for (const e of target.errors.slice(seen.errors)) failures.push(`${at}: ${e}`);
      seen.errors = target.errors.length;
      for (const e of uncaught.slice(seen.uncaught)) failures.push(`${at}: ${e}`);
      seen.uncaught = uncaught.length;
      for (const w of target.withoutIdentity.slice(seen.withoutIdentity)) failures.push(`${at}: a CoAP request without a DTLS session's identity: ${w}`);
      seen.withoutIdentity = target.withoutIdentity.length;
    };

    let nextCheck = checkEvery;
    let lastProgress = performance.now();
    let turn = 0;
    while (report.sent < o.inputs) {
      const s = sources[turn++ % sources.length]!;
      if (--s.untilHandshake <= 0) {
        s.untilHandshake = s.rng.range(100, 200);
        // The answers to this port's last fuzz are let in and dropped first: a late HelloVerifyRequest
        // for another hello would start the client on the wrong cookie. One retry, a second later,
        // for anything else such an answer did to it.
        for (let attempt = 1; ; attempt++) {
          await sleep(attempt === 1 ? 30 : 1000);
          s.peer.drain();
          try {
            await s.peer.handshake(Buffer.from(s.device.identity), s.device.key, s.useCid);
            report.rehandshakes++;
            // The source's own device registers over its session, so what follows works on a registered device.
            if (s.surface.registers) await send(s)(s.peer.seal(CT.appData, cleanRegister(s.device.endpoint, s.rng)));
            break;
          } catch (e) {
            if (attempt === 2) { failures.push(`a genuine handshake from fuzz port ${s.peer.port} after ${report.sent} datagrams, twice: ${(e as Error).message}`); break; }
            report.rehandshakeRetries++;
          } finally {
            s.peer.detach();
          }
        }
      }
      if (s.rng.chance(0.12)) {
        await runScript(s, planScript(s), send(s), report.scripts);
      } else if (s.rng.chance(0.01)) {
        await passerBy(s.surface.port, new Rng(s.rng.u32()), (port, d) => record(port, d), report);
      } else if (s.rng.chance(0.02) && s.peer.keys?.cid !== undefined && sources.some((x) => x !== s && x.surface === s.surface)) {
        // RFC 9146 §6: a record of a CID session from another source's address on the same socket. The
        // newest one moves the session there (and drops the session that was there); an older one moves nothing.
        const others = sources.filter((x) => x !== s && x.surface === s.surface);
        const other = others[s.rng.int(others.length)]!;
        const d = s.peer.seal(CT.appData, coapPlaintext(s), s.rng.chance(0.7) ? undefined : seqNear(s.rng, s.peer.writeSeq));
        record(other.peer.port, d);
        await other.peer.send(d);
        report.elsewhere++;
        for (const moved of [s, other]) moved.untilHandshake = Math.min(moved.untilHandshake, s.rng.range(1, 20));
      } else {
        for (const d of blind(s, s.rng.weighted(BLIND))) await send(s)(d);
      }
      if (turn % 8 === 0) await yieldNow();
      if (report.sent >= nextCheck || report.sent >= o.inputs) {
        nextCheck = report.sent + checkEvery;
        await new Promise((resolve) => setTimeout(resolve, 20)); // the last answers (and the PSK look-ups behind them)
        const at = `check ${report.checks} (after ${report.sent} datagrams, seed ${o.seed})`;
        report.checks++;
        const failedBefore = failures.length;
        let passed = true;
        for (const surface of target.surfaces) {
          const problem = await check(surface);
          if (problem !== undefined) { passed = false; failures.push(`${at}: the genuine client on ${surface.name}: ${problem}`); }
        }
        if (passed) report.checksPassed++;
        findings(at);
        for (const src of sources) for (const f of src.peer.fiveXx.splice(0)) failures.push(`${at}: CoAP ${f.code} to fuzz port ${src.peer.port}: ${f.hex}`);
        if (failures.length > failedBefore) {
          const file = join(tmpdir(), `ferry-fuzz-dtls-${o.seed}-${report.checks}.hex`);
          writeFileSync(file, `${window.join('\n')}\n`);
          failures.push(`${at}: the ${window.length} datagrams since the last good check are in ${file} (source port, hex a line)`);
          if (failures.length > 50) break;
        }
        window.length = 0;
      }
      if (o.progress && performance.now() - lastProgress > 30_000) {
        lastProgress = performance.now();
        o.progress(report.sent, `sockets-dtls: ${report.sent}/${o.inputs} datagrams, ${report.checksPassed}/${report.checks} checks, counts ${JSON.stringify(target.surfaces.map((x) => x.dtls.counts))}, ${failures.length} failures`);
      }
    }
    await sleep(100);
    findings('at the end');
    // Bounded state: what the fuzz left behind is tied to live peers, a session or a handshake at
    // most per source port: sessions only for the fuzz sources (each check closed its own), and
    // half-open handshakes only theirs and the passers-by's. Where the layer's handshake timeout
    // is short, every half-open handshake is seen to expire.
    for (const surface of target.surfaces) {
      const left = surface.dtls.counts;
      const own = sources.filter((x) => x.surface === surface).length;
      if (left.sessions > own) failures.push(`after the run: ${left.sessions} sessions on ${surface.name}, more than its ${own} fuzz sources`);
      if (left.halfOpen > own + report.passersBy) failures.push(`after the run: ${left.halfOpen} half-open handshakes on ${surface.name}, more than its ${own} fuzz sources and ${report.passersBy} passers-by`);
    }
    if (target.handshakeMs !== undefined) {
      await sleep(target.handshakeMs + 600);
      for (const surface of target.surfaces) {
        const later = surface.dtls.counts.halfOpen;
        if (later !== 0) failures.push(`${target.handshakeMs + 600} ms after the last datagram: ${later} half-open handshakes left on ${surface.name}, none expected`);
      }
    }
  } finally {
    for (const surface of target.surfaces) {
      for (const [k, v] of Object.entries({ ...surface.dtls.stats, ...surface.dtls.counts })) report.stats[target.surfaces.length > 1 ? `${surface.name}.${k}` : k] = v;
    }
    report.requests = target.requests();
    for (const s of sources) for (const [k, v] of Object.entries(s.peer.answers)) report.answers[k] = (report.answers[k] ?? 0) + v;
    for (const s of sources) await s.peer.close();
    await target.close();
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    report.ms = Math.round(performance.now() - started);
  }
  return report;
}

export function describeDtlsReport(r: DtlsFuzzReport): string[] {
  const lines = [
    `sockets-dtls (${r.target}): ${r.sent} datagrams (seed ${r.seed}), checks ${r.checksPassed}/${r.checks}, ${r.rehandshakes} genuine re-handshakes of the fuzz sources (${r.rehandshakeRetries} on a retry), ${(r.ms / 1000).toFixed(1)} s`,
    `sockets-dtls: scripted handshakes ${r.scripts.run}, passers-by ${r.passersBy}, CID records from elsewhere ${r.elsewhere}, cookie ${r.scripts.cookie}, server flight ${r.scripts.flight}, completed ${r.scripts.established}; CoAP requests ${r.requests}; answers ${Object.entries(r.answers).sort().map(([k, v]) => `${k}:${v}`).join(' ')}`,
    `sockets-dtls: max sessions ${r.maxCounts.sessions}/${r.caps.sessions}, max half-open ${r.maxCounts.halfOpen}/${r.caps.halfOpen}, JS heap ${r.heapMb.start} → at most ${r.heapMb.max} MB; stats ${Object.entries(r.stats).map(([k, v]) => `${k}:${v}`).join(' ')}`,
    `sockets-dtls: ${r.failures.length} failures`,
  ];
  for (const f of r.failures.slice(0, 30)) lines.push(`  FAIL ${f}`);
  return lines;
}

const TARGETS: ReadonlyArray<{ name: string; target: TargetKind; describe: string }> = [
  { name: 'sockets-dtls', target: 'ferry', describe: 'DTLS records, handshakes and sealed CoAP at both DTLS sockets of a whole Ferry (startFerry, keys provisioned), checked by genuine handshakes, Registers and GETs' },
  { name: 'sockets-dtls-layer', target: 'layer', describe: 'the same at a DtlsSocket alone (real PSK look-up, node-coap behind it) with small caps and a short handshake timeout' },
];

for (const t of TARGETS) {
  register({
    name: t.name,
    family: 'sockets',
    describe: t.describe,
    defaultRuns: 200_000,
    async run(n, seed, options) {
      const report = await fuzzDtls({ target: t.target, inputs: n, seed, progress: (sent) => options?.progress?.(sent) });
      for (const line of describeDtlsReport(report)) process.stdout.write(`${line}\n`);
      const outcome: FuzzOutcome = { name: t.name, family: 'sockets', runs: report.sent, roundTrips: 0, failures: report.failures.length, ms: report.ms };
      if (report.failures.length > 0) {
        const hex = /reading \d+ ([0-9a-f]+)/.exec(report.failures.join('\n'))?.[1];
        outcome.failure = {
          kind: report.failures.some((f) => f.includes('genuine client')) ? 'hang' : 'exception', error: report.failures.slice(0, 10).join('\n'), seed,
          ...(hex ? { hex } : {}), replay: `npm run fuzz -- --only ${t.name} --seed ${seed} --runs ${n}`,
        };
      }
      return outcome;
    },
  });
}
