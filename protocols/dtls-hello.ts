/**
 * The hello messages of a DTLS 1.2 handshake, the bodies behind the handshake header:
 *
 *   ClientHello (RFC 6347 §4.2.1 / RFC 5246 §7.4.1.2): client_version, random[32],
 *     session_id<0..32>, cookie<0..2^8-1>, cipher_suites<2..2^16-2>,
 *     compression_methods<1..2^8-1>, then optionally extensions<0..2^16-1>
 *   HelloVerifyRequest (RFC 6347 §4.2.1): server_version, cookie<0..2^8-1>
 *   ServerHello (RFC 5246 §7.4.1.3): server_version, random[32], session_id<0..32>,
 *     cipher_suite, compression_method, then optionally extensions<0..2^16-1>
 *
 * The server reads ClientHellos and writes the other two; each is also written or read the other
 * way, for round trips and a client. Versions are read as sent: choosing one is the caller's.
 */
import { Reader, uint16, uint8, vector8 } from './dtls-bytes.ts';
import { encodeExtensions, readHelloExtensions, extendedMasterSecretExtension, renegotiationInfoExtension, connectionIdExtension, type Extension, type HelloExtensions } from './dtls-extensions.ts';
import { DTLS_1_0, DTLS_1_2, type ProtocolVersion } from './dtls-record.ts';
import { DecodeError } from './errors.ts';

/** CipherSuite values of a DTLS PSK server (RFC 6655; RFC 7925 §4.2 makes CCM_8 mandatory) and the SCSV (RFC 5746 §3.3). */
export const CipherSuite = {
  TLS_PSK_WITH_AES_128_CCM: 0xc0a4,
  TLS_PSK_WITH_AES_128_CCM_8: 0xc0a8,
  TLS_EMPTY_RENEGOTIATION_INFO_SCSV: 0x00ff,
} as const;

/** CompressionMethod null (RFC 5246 §6.1), the only one a DTLS 1.2 peer uses. */
export const COMPRESSION_NULL = 0;
export const RANDOM_LENGTH = 32;
export const MAX_SESSION_ID_LENGTH = 32;
/** DTLS 1.2 cookies are up to 2^8-1 bytes (RFC 6347 §4.2.1). */
export const MAX_COOKIE_LENGTH = 255;

export interface ClientHello extends HelloExtensions {
  clientVersion: ProtocolVersion;
  random: Buffer;
  sessionId: Buffer;
  cookie: Buffer;
  cipherSuites: number[];
  compressionMethods: number[];
  /** TLS_EMPTY_RENEGOTIATION_INFO_SCSV is among cipher_suites (RFC 5746 §3.3). */
  emptyRenegotiationInfoScsv: boolean;
}

/** A ClientHello's body, every field checked against its bounds; compression_methods must hold null. */
export function parseClientHello(body: Buffer): ClientHello {
  const r = new Reader(body, 'dtls.client-hello', 'ClientHello');
  const clientVersion = { major: r.uint8('client_version'), minor: r.uint8('client_version') };
  const random = r.bytes(RANDOM_LENGTH, 'random');
  const sessionId = r.vector8('session_id', 0, MAX_SESSION_ID_LENGTH);
  const cookie = r.vector8('cookie', 0, MAX_COOKIE_LENGTH);
  const suites = r.vector16('cipher_suites', 2, 0xfffe);
  if (suites.length % 2 !== 0) throw new DecodeError('dtls.client-hello.cipher-suites', `cipher_suites is ${suites.length} bytes, not a whole number of two-byte suites`);
  const cipherSuites: number[] = [];
  for (let i = 0; i < suites.length; i += 2) cipherSuites.push(suites.readUInt16BE(i));
  const compressionMethods = [...r.vector8('compression_methods', 1)];
  // RFC 5246 §7.4.1.2: "this vector MUST contain ... CompressionMethod.null".
  if (!compressionMethods.includes(COMPRESSION_NULL)) {
    throw new DecodeError('dtls.client-hello.compression-methods', 'compression_methods does not offer null (0)');
  }
  return {
    clientVersion, random, sessionId, cookie, cipherSuites, compressionMethods,
    emptyRenegotiationInfoScsv: cipherSuites.includes(CipherSuite.TLS_EMPTY_RENEGOTIATION_INFO_SCSV),
    ...readHelloExtensions(r),
  };
}

export interface ClientHelloFields {
  clientVersion: ProtocolVersion;
  random: Buffer;
  sessionId: Buffer;
  cookie: Buffer;
  cipherSuites: readonly number[];
  compressionMethods: readonly number[];
  /** Undefined writes no extensions block at all; [] writes an empty one. */
  extensions?: readonly Extension[];
}

/** A ClientHello's body (a client's, and the round trips of the tests). */
export function encodeClientHello(h: ClientHelloFields): Buffer {
  if (h.random.length !== RANDOM_LENGTH) throw new RangeError(`random is ${RANDOM_LENGTH} bytes, got ${h.random.length}`);
  if (h.cipherSuites.length === 0) throw new RangeError('cipher_suites holds at least one suite');
  return Buffer.concat([
    version(h.clientVersion), h.random,
    vector8(h.sessionId, 'session_id', 0, MAX_SESSION_ID_LENGTH),
    vector8(h.cookie, 'cookie', 0, MAX_COOKIE_LENGTH),
    uint16(h.cipherSuites.length * 2, 'cipher_suites length'), ...h.cipherSuites.map((s) => uint16(s, 'cipher suite')),
    vector8(Buffer.from(h.compressionMethods), 'compression_methods', 1),
    ...(h.extensions ? [encodeExtensions(h.extensions)] : []),
  ]);
}

export interface HelloVerifyRequest {
  serverVersion: ProtocolVersion;
  cookie: Buffer;
}

/**
 * A HelloVerifyRequest's body. server_version defaults to DTLS 1.0: RFC 6347 §4.2.1 has DTLS 1.2
 * servers send {254,255} here whatever version the handshake goes on to choose.
 */
export function encodeHelloVerifyRequest(cookie: Buffer, serverVersion: ProtocolVersion = DTLS_1_0): Buffer {
  return Buffer.concat([version(serverVersion), vector8(cookie, 'cookie', 0, MAX_COOKIE_LENGTH)]);
}

export function parseHelloVerifyRequest(body: Buffer): HelloVerifyRequest {
  const r = new Reader(body, 'dtls.hello-verify-request', 'HelloVerifyRequest');
  const serverVersion = { major: r.uint8('server_version'), minor: r.uint8('server_version') };
  const cookie = r.vector8('cookie', 0, MAX_COOKIE_LENGTH);
  r.end();
  return { serverVersion, cookie };
}

export interface ServerHello extends HelloExtensions {
  serverVersion: ProtocolVersion;
  random: Buffer;
  sessionId: Buffer;
  cipherSuite: number;
  compressionMethod: number;
}

export interface ServerHelloFields {
  /** DTLS 1.2 unless said. */
  serverVersion?: ProtocolVersion;
  random: Buffer;
  sessionId: Buffer;
  cipherSuite: number;
  /** Answer the client's extended_master_secret (RFC 7627 §5.2). */
  extendedMasterSecret?: boolean;
  /** Answer the client's renegotiation_info or SCSV with an empty renegotiation_info (RFC 5746 §3.6). */
  renegotiationInfo?: boolean;
  /** The CID this server wants in the records the client sends it (RFC 9146 §3), 0..255 bytes. */
  connectionId?: Buffer;
}

/**
 * A ServerHello's body with compression_method null and, in this order, the extensions asked
 * for: extended_master_secret, renegotiation_info (empty), connection_id. None asked for, no block.
 */
export function encodeServerHello(h: ServerHelloFields): Buffer {
  if (h.random.length !== RANDOM_LENGTH) throw new RangeError(`random is ${RANDOM_LENGTH} bytes, got ${h.random.length}`);
  const extensions: Extension[] = [];
  if (h.extendedMasterSecret) extensions.push(extendedMasterSecretExtension());
  if (h.renegotiationInfo) extensions.push(renegotiationInfoExtension());
  if (h.connectionId) extensions.push(connectionIdExtension(h.connectionId));
  return Buffer.concat([
    version(h.serverVersion ?? DTLS_1_2), h.random,
    vector8(h.sessionId, 'session_id', 0, MAX_SESSION_ID_LENGTH),
    uint16(h.cipherSuite, 'cipher_suite'), uint8(COMPRESSION_NULL),
    ...(extensions.length > 0 ? [encodeExtensions(extensions)] : []),
  ]);
}

/** A ServerHello's body (a client's view; the server's round trips). */
export function parseServerHello(body: Buffer): ServerHello {
  const r = new Reader(body, 'dtls.server-hello', 'ServerHello');
  const serverVersion = { major: r.uint8('server_version'), minor: r.uint8('server_version') };
  const random = r.bytes(RANDOM_LENGTH, 'random');
  const sessionId = r.vector8('session_id', 0, MAX_SESSION_ID_LENGTH);
  const cipherSuite = r.uint16('cipher_suite');
  const compressionMethod = r.uint8('compression_method');
  return { serverVersion, random, sessionId, cipherSuite, compressionMethod, ...readHelloExtensions(r) };
}

function version(v: ProtocolVersion): Buffer {
  return Buffer.from([...uint8(v.major, 'version.major'), ...uint8(v.minor, 'version.minor')]);
}
