/**
 * Hello extensions (RFC 5246 §7.4.1.4): the block `Extension extensions<0..2^16-1>` of a
 * ClientHello or ServerHello, each `extension_type(2) extension_data<0..2^16-1>`, kept raw and in
 * order; and the three a PSK server uses, decoded:
 *
 *   extended_master_secret (23)    RFC 7627 §5.1: extension_data is empty
 *   connection_id (54)             RFC 9146 §3: opaque cid<0..2^8-1>
 *   renegotiation_info (0xff01)    RFC 5746 §3.2: opaque renegotiated_connection<0..255>
 *
 * An extension type sent twice is refused (RFC 5246 §7.4.1.4). Errors in the data of one of the
 * three are 'dtls.extension.*'; the block's own framing errors carry the message's code prefix.
 */
import { Reader, uint16, vector16, vector8 } from './dtls-bytes.ts';
import { DecodeError } from './errors.ts';

/** ExtensionType values Ferry reads (RFC 7627, RFC 9146, RFC 5746). */
export const ExtensionType = {
  extended_master_secret: 23,
  connection_id: 54,
  renegotiation_info: 0xff01,
} as const;

export interface Extension {
  type: number;
  /** extension_data, a view of the message. */
  data: Buffer;
}

/** What the hello's extensions say, decoded, beside the raw list. */
export interface HelloExtensions {
  /** Every extension in the order sent, undecoded; [] when the block is absent. */
  extensions: Extension[];
  /** The extended_master_secret extension was sent (RFC 7627 §5.1). */
  extendedMasterSecret: boolean;
  /** renegotiated_connection of a renegotiation_info extension (RFC 5746 §3.2); empty on an initial handshake. */
  renegotiationInfo?: Buffer;
  /** cid of a connection_id extension (RFC 9146 §3): the CID its sender wants in the records it receives. */
  connectionId?: Buffer;
}

/**
 * Reads the optional extensions block at the end of a hello (RFC 5246 §7.4.1.2: absent when no
 * bytes follow the compression method(s)) and decodes the three above. The reader must be at it.
 */
export function readHelloExtensions(r: Reader): HelloExtensions {
  const out: HelloExtensions = { extensions: [], extendedMasterSecret: false };
  if (r.remaining === 0) return out;
  const block = new Reader(r.vector16('extensions'), r.prefix, `${r.what} extensions`);
  const seen = new Set<number>();
  while (block.remaining > 0) {
    const type = block.uint16('extension_type');
    const data = block.vector16('extension_data');
    if (seen.has(type)) throw new DecodeError('dtls.extension.repeated', `extension ${type} appears twice in ${r.what}`);
    seen.add(type);
    out.extensions.push({ type, data });
    if (type === ExtensionType.extended_master_secret) {
      if (data.length !== 0) throw new DecodeError('dtls.extension.extended-master-secret', `extended_master_secret carries ${data.length} bytes, must be empty`);
      out.extendedMasterSecret = true;
    } else if (type === ExtensionType.renegotiation_info) {
      out.renegotiationInfo = readSingleVector8(data, 'renegotiation_info', 'renegotiated_connection');
    } else if (type === ExtensionType.connection_id) {
      out.connectionId = readSingleVector8(data, 'connection_id', 'cid');
    }
  }
  r.end();
  return out;
}

/** extension_data holding exactly one `opaque field<0..2^8-1>`. */
function readSingleVector8(data: Buffer, extension: string, field: string): Buffer {
  const d = new Reader(data, 'dtls.extension', `${extension} extension`);
  const v = d.vector8(field);
  d.end();
  return v;
}

/** The extensions block: a two-byte length, then each extension. */
export function encodeExtensions(list: readonly Extension[]): Buffer {
  const seen = new Set<number>();
  const parts: Buffer[] = [];
  for (const e of list) {
    if (seen.has(e.type)) throw new RangeError(`extension ${e.type} twice`);
    seen.add(e.type);
    parts.push(uint16(e.type, 'extension_type'), vector16(e.data, 'extension_data'));
  }
  return vector16(Buffer.concat(parts), 'extensions');
}

/** extended_master_secret, empty (RFC 7627 §5.1). */
export function extendedMasterSecretExtension(): Extension {
  return { type: ExtensionType.extended_master_secret, data: Buffer.alloc(0) };
}

/** renegotiation_info; a server's initial handshake sends it empty (RFC 5746 §3.6). */
export function renegotiationInfoExtension(renegotiatedConnection: Buffer = Buffer.alloc(0)): Extension {
  return { type: ExtensionType.renegotiation_info, data: vector8(renegotiatedConnection, 'renegotiated_connection') };
}

/** connection_id with the CID its sender wants to receive, 0..255 bytes (RFC 9146 §3). */
export function connectionIdExtension(cid: Buffer): Extension {
  return { type: ExtensionType.connection_id, data: vector8(cid, 'cid') };
}
