/**
 * The LwM2M Device Management operations (Core §6.3) on top of the DM client, with content
 * negotiation and typed results: values go in and come out as (path, value) nodes.
 */
import { formatAttributesQuery, type Attributes } from '../../protocols/attributes.ts';
import { ContentFormat } from '../../protocols/content-format.ts';
import { decodeContent, encodeContent, SUPPORTED_CONTENT_FORMATS } from '../../protocols/content.ts';
import { parseLinkFormat, type Link } from '../../protocols/link-format.ts';
import type { Lwm2mNodes } from '../../protocols/lwm2m-node.ts';
import { resourceModel } from '../../protocols/object-model.ts';
import { formatPath, type Lwm2mPath } from '../../protocols/path.ts';
import { decodeUtf8 } from '../../protocols/utf8.ts';
import type { DmClient, DmResponse, Target } from './dm-client.ts';

/** What the registration told us about how to talk to the device. */
export interface DeviceFormats {
  lwm2mVersion: string;
  /** `ct` of the registration's root link, in the device's order. */
  contentFormats: readonly number[];
}

const MULTI = [ContentFormat.SENML_CBOR, ContentFormat.SENML_JSON, ContentFormat.TLV, ContentFormat.LWM2M_CBOR] as number[];

/**
 * The format to ask for (Accept) and to write in: the first `ct` the device announced that we
 * speak; otherwise SenML-CBOR for LwM2M 1.1 and later, TLV for 1.0 (Core §7.4 mandatory formats).
 */
export function preferredFormat(d: DeviceFormats): number {
  const announced = d.contentFormats.find((f) => MULTI.includes(f));
  if (announced !== undefined) return announced;
  return Number(d.lwm2mVersion) >= 1.1 ? ContentFormat.SENML_CBOR : ContentFormat.TLV;
}

export interface ReadResult {
  contentFormat: number;
  nodes: Lwm2mNodes;
}

function decoded(path: Lwm2mPath, r: DmResponse): ReadResult {
  // A device may answer in another format than asked (Core §7.4): decode what it sent.
  const format = r.contentFormat ?? ContentFormat.TEXT;
  return { contentFormat: format, nodes: decodeContent(format, r.payload, path) };
}

export class Lwm2mOperations {
  private readonly dm: DmClient;
  constructor(dm: DmClient) {
    this.dm = dm;
  }

  async read(t: Target, d: DeviceFormats, path: Lwm2mPath, accept?: number): Promise<ReadResult> {
    const format = accept ?? preferredFormat(d);
    if (!SUPPORTED_CONTENT_FORMATS.includes(format)) throw new RangeError(`content-format ${format} is not supported`);
    return decoded(path, await this.dm.request(t, 'GET', formatPath(path), { accept: format, expect: '2.05' }));
  }

  /** Write: replace (PUT) or partial update (POST), Core §6.3.3. */
  async write(t: Target, d: DeviceFormats, path: Lwm2mPath, nodes: Lwm2mNodes, mode: 'replace' | 'update', format?: number): Promise<void> {
    const contentFormat = format ?? preferredFormat(d);
    const payload = encodeContent(contentFormat, nodes, path);
    await this.dm.request(t, mode === 'replace' ? 'PUT' : 'POST', formatPath(path), { contentFormat, payload, expect: '2.04' });
  }

  /** Execute with optional arguments (Core §5.4.3: `0='a',1`). */
  async execute(t: Target, path: Lwm2mPath, args?: string): Promise<void> {
    await this.dm.request(t, 'POST', formatPath(path), {
      ...(args !== undefined ? { payload: Buffer.from(args, 'utf8'), contentFormat: ContentFormat.TEXT } : {}), expect: '2.04',
    });
  }

  /** Discover: GET with Accept application/link-format (Core §6.3.1). */
  async discover(t: Target, path: Lwm2mPath): Promise<Link[]> {
    const r = await this.dm.request(t, 'GET', formatPath(path), { accept: ContentFormat.LINK_FORMAT, expect: '2.05' });
    return parseLinkFormat(decodeUtf8(r.payload, 'link.utf8', 'Discover answer'));
  }

  /** Write-Attributes: PUT with the attributes as Uri-Query and no payload (Core §6.3.4). */
  async writeAttributes(t: Target, path: Lwm2mPath, attributes: Attributes): Promise<void> {
    await this.dm.request(t, 'PUT', formatPath(path), { query: formatAttributesQuery(attributes), expect: '2.04' });
  }

  /** Create an object instance: POST on the object (Core §6.3.6). */
  async create(t: Target, d: DeviceFormats, objectPath: Lwm2mPath, nodes: Lwm2mNodes): Promise<void> {
    const contentFormat = preferredFormat(d);
    await this.dm.request(t, 'POST', formatPath(objectPath), {
      contentFormat, payload: encodeContent(contentFormat, nodes, objectPath), expect: '2.01',
    });
  }

  /** Delete an object instance (Core §6.3.7). */
  async delete(t: Target, path: Lwm2mPath): Promise<void> {
    await this.dm.request(t, 'DELETE', formatPath(path), { expect: '2.02' });
  }

  /**
   * Observe (Core §6.4): every value, decoded, goes to onValue; resolves with the first. A single
   * resource of a known scalar type is observed as text, as the update engine does, so that the
   * one shared device observation (dm-client.ts) speaks a format every owner reads.
   */
  async observe(t: Target, d: DeviceFormats, path: Lwm2mPath, owner: string, onValue: (r: ReadResult) => void, onError: (e: Error) => void): Promise<ReadResult> {
    const model = path.resourceId === undefined ? undefined : resourceModel(path.objectId, path.resourceId);
    const scalar = model !== undefined && !model.multiple && model.type !== 'opaque' && model.type !== 'none' && path.resourceInstanceId === undefined;
    const r = await this.dm.observe(t, formatPath(path), scalar ? ContentFormat.TEXT : preferredFormat(d), (n) => {
      try { onValue(decoded(path, n)); } catch (err) { onError(err as Error); }
    }, owner);
    return decoded(path, r);
  }

  cancelObserve(endpoint: string, path: Lwm2mPath, owner: string): boolean {
    return this.dm.cancelObserve(endpoint, formatPath(path), owner);
  }

  /** `listener(endpoint)` when a device's observations are gone (new registration, de-registration, expiry). */
  onForget(listener: (endpoint: string) => void): void {
    this.dm.onForget(listener);
  }
}
