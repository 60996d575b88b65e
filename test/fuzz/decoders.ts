/**
 * The decoder fuzz targets: every decoder in protocols/, its hostile inputs (valid messages made
 * by the project's own encoders and the seed corpus, mutated field by field and byte by byte),
 * the property (only the typed error escapes) and, where there is an encoder, the round trip.
 *
 * The targets live by kind in decoders-content.ts, decoders-signed.ts, decoders-text.ts and
 * decoders-dtls.ts, their shared helpers in decoder-kit.ts. decoderTarget(name) builds a target on first use (the package
 * pool signs ~140 packages); DECODER_NAMES lists them in the order `npm run fuzz` runs them.
 */
import { tlvTarget, tlvNodesTarget, senmlJsonTarget, senmlCborTarget, lwm2mCborTarget, cborTarget, cborGuardTarget } from './decoders-content.ts';
import { dtlsClientHelloTarget, dtlsHandshakeTarget, dtlsRecordTarget } from './decoders-dtls.ts';
import { coseTarget, packageTarget, packageVerifyTarget, pemTarget } from './decoders-signed.ts';
import { linkFormatTarget, attributesTarget, registrationTarget, blockTarget, pathTarget, textTarget, contentTarget, valueJsonTarget, utf8Target, base64Target, coapMessageTarget } from './decoders-text.ts';
import type { DecoderTarget } from './engine.ts';

// ---- The table

type AnyTarget = DecoderTarget<unknown, unknown>;

const FACTORIES: Record<string, () => DecoderTarget<never, never>> = {
  'tlv': tlvTarget as never,
  'tlv-nodes': tlvNodesTarget as never,
  'senml-json': senmlJsonTarget as never,
  'senml-cbor': senmlCborTarget as never,
  'lwm2m-cbor': lwm2mCborTarget as never,
  'cbor': cborTarget as never,
  'cbor-guard': cborGuardTarget as never,
  'cose': coseTarget as never,
  'package': packageTarget as never,
  'package-verify': packageVerifyTarget as never,
  'package-keys': pemTarget as never,
  'link-format': linkFormatTarget as never,
  'attributes': attributesTarget as never,
  'registration': registrationTarget as never,
  'block': blockTarget as never,
  'path': pathTarget as never,
  'text': textTarget as never,
  'content': contentTarget as never,
  'value-json': valueJsonTarget as never,
  'utf8': utf8Target as never,
  'base64': base64Target as never,
  'coap-message': coapMessageTarget as never,
  'dtls-record': dtlsRecordTarget as never,
  'dtls-handshake': dtlsHandshakeTarget as never,
  'dtls-client-hello': dtlsClientHelloTarget as never,
};

export const DECODER_NAMES: readonly string[] = Object.keys(FACTORIES);

const built = new Map<string, AnyTarget>();

export function decoderTarget(name: string): AnyTarget {
  let t = built.get(name);
  if (!t) {
    const factory = FACTORIES[name];
    if (!factory) throw new Error(`no decoder target ${name} (${DECODER_NAMES.join(', ')})`);
    t = factory() as unknown as AnyTarget;
    built.set(name, t);
  }
  return t;
}
