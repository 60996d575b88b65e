/**
 * The UDP sockets devices reach Ferry on, as --security and the port plan (config.ts) say: LwM2M
 * over plain CoAP and over DTLS, and firmware downloads over each. Each is bound here, not yet
 * answering (the LwM2M endpoints answer 5.03 until they are given their handler); a bind that
 * fails closes those already bound. A plain socket exists only where the policy allows plain CoAP,
 * a coaps one only where it allows DTLS.
 */
import type { Logger } from '../log.ts';
import { coapsPortOf, downloadCoapsPortOf, downloadPortOf, securityPolicyOf, type Config } from '../config.ts';
import type { AddressProof } from './address-proof.ts';
import type { DownloadAccess } from './download-access.ts';
import { DownloadServer } from './download-server.ts';
import type { EchoMinter } from './echo.ts';
import { CoapEndpoint } from './endpoint.ts';
import type { FirmwareGate } from './firmware-gate.ts';
import type { BlockServed } from './fw.ts';
import type { ImageCache } from './image-cache.ts';
import type { DtlsLayerOptions } from './udp-socket.ts';
import { PlainSide } from './plain-side.ts';
import type { Socket } from 'node:dgram';

export interface Channels {
  /** LwM2M over plain CoAP (nosec allowed). */
  coap: CoapEndpoint | undefined;
  /** LwM2M over DTLS (psk allowed). */
  coaps: CoapEndpoint | undefined;
  /** Firmware over plain CoAP; undefined when it is served on the CoAP socket, or nosec is off. */
  download: DownloadServer | undefined;
  /** Firmware over DTLS; undefined when it is served on the coaps socket, or psk is off. */
  secureDownload: DownloadServer | undefined;
  /**
   * Plain CoAP GET /fw on the coaps port, for Package URIs written when that port was the plain
   * download socket (the CoAP port + 1); only where the policy allows plain CoAP.
   */
  legacyDownload: DownloadServer | undefined;
  close(): Promise<void>;
}

export interface ChannelOptions {
  config: Config;
  log: Logger;
  proof: AddressProof;
  echo: EchoMinter;
  access: DownloadAccess;
  images: ImageCache;
  unprovenRate: { perSecond: number; burst: number };
  /** The DTLS layer of every coaps socket (the PSK look-up, caps). */
  dtls: DtlsLayerOptions;
  gates: { nosec: FirmwareGate; psk: FirmwareGate };
  onBlock: (socket: 'coap' | 'download' | 'coaps' | 'download-coaps') => (b: BlockServed) => void;
}

export async function openChannels(o: ChannelOptions): Promise<Channels> {
  const { config, log, proof, echo } = o;
  const policy = securityPolicyOf(config);
  const opened: Array<{ close(): Promise<void> }> = [];
  const closeAll = async (): Promise<void> => { for (const s of [...opened].reverse()) await s.close(); };
  const track = <T extends { close(): Promise<void> }>(s: T): T => { opened.push(s); return s; };
  const block1 = { maxBody: config.maxRegistrationPayload };
  try {
    const coap = policy.nosec
      ? track(await CoapEndpoint.listen({ host: config.coapHost, port: config.coapPort, log, proof, echo, unprovenRate: o.unprovenRate, block1 }))
      : undefined;
    const coaps = policy.psk
      ? track(await CoapEndpoint.listen({ host: config.coapHost, port: coapsPortOf(config), log, proof, echo, unprovenRate: o.unprovenRate, block1, dtls: o.dtls }))
      : undefined;
    const downloadPort = coap === undefined ? undefined : downloadPortOf(config, coap.address().port);
    const download = downloadPort === undefined ? undefined : track(await DownloadServer.listen({
      host: config.coapHost, port: downloadPort, images: o.images, log, proof, echo, access: o.access, unprovenRate: o.unprovenRate,
      gate: o.gates.nosec, onBlock: o.onBlock('download'),
    }));
    const securePort = coaps === undefined ? undefined : downloadCoapsPortOf(config, coaps.address().port);
    const secureDownload = securePort === undefined ? undefined : track(await DownloadServer.listen({
      host: config.coapHost, port: securePort, images: o.images, log, proof, echo, access: o.access, unprovenRate: o.unprovenRate,
      gate: o.gates.psk, onBlock: o.onBlock('download-coaps'), dtls: o.dtls,
    }));
    const legacyDownload = coaps?.dtls === undefined || !policy.nosec ? undefined : track(DownloadServer.over(new PlainSide(coaps.dtls) as unknown as Socket, 'coaps-plain', {
      images: o.images, log, proof, echo, access: o.access, unprovenRate: o.unprovenRate, gate: o.gates.nosec, onBlock: o.onBlock('download'),
    }));
    return { coap, coaps, download, secureDownload, legacyDownload, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
