/** The shapes the CoAP endpoint hands out and takes in. */
import type { BlockOption } from '../../protocols/block.ts';
import type { CoapOptions } from './codec.ts';
import type { Peer } from './outbox.ts';

export type { Peer };

export type CoapMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'FETCH' | 'PATCH' | 'iPATCH';

/** RFC 7252 §12.1.1 method codes (and RFC 8132 for FETCH/PATCH/iPATCH). */
export const METHOD_CODES: Readonly<Record<CoapMethod, string>> = {
  GET: '0.01',
  POST: '0.02',
  PUT: '0.03',
  DELETE: '0.04',
  FETCH: '0.05',
  PATCH: '0.06',
  iPATCH: '0.07',
};

export function methodOfCode(code: string): CoapMethod | undefined {
  for (const [method, c] of Object.entries(METHOD_CODES)) if (c === code) return method as CoapMethod;
  return undefined;
}

/** A client request: what `CoapEndpoint.request` sends. */
export interface RequestParams {
  host: string;
  port: number;
  method: CoapMethod;
  pathSegments?: readonly string[];
  query?: readonly string[];
  contentFormat?: number;
  accept?: number;
  /** 0 registers an observation (RFC 7641 §3.1), 1 cancels it. */
  observe?: number;
  etag?: Buffer;
  block1?: BlockOption;
  block2?: BlockOption;
  size1?: number;
  size2?: number;
  /** RFC 9175: the Echo value a server asked for (a 4.01 with Echo), sent back. */
  echo?: Buffer;
  payload?: Buffer | string;
  /** CON (default) or NON. */
  confirmable?: boolean;
  /** Overall bound for this exchange; defaults to the endpoint's requestTimeoutMs. */
  timeoutMs?: number;
  /** Gives up on the exchange (rejects with COAP_CANCELLED; retransmissions stop). */
  signal?: AbortSignal;
  /**
   * With `observe: 0`: called for each notification after the first response. Return false to
   * cancel the observation (the notification is answered with RST, RFC 7641 §3.6).
   */
  onNotify?: (notification: CoapResponse) => boolean | void;
}

/** A response (or notification) we received. */
export interface CoapResponse {
  /** '2.05' style. */
  code: string;
  options: CoapOptions;
  payload: Buffer;
  token: Buffer;
  messageId: number;
  peer: Peer;
  /** How it came: piggybacked in the ACK, or separately as CON / NON. */
  transport: 'piggybacked' | 'con' | 'non';
}

/** A request we received (server role). */
export interface CoapRequest {
  method: CoapMethod;
  code: string;
  peer: Peer;
  token: Buffer;
  messageId: number;
  confirmable: boolean;
  options: CoapOptions;
  pathSegments: string[];
  payload: Buffer;
}

/** What a handler answers with (and what a notification carries). */
export interface CoapReply {
  code: string;
  payload?: Buffer | string;
  contentFormat?: number;
  observe?: number;
  etag?: Buffer;
  maxAge?: number;
  block1?: BlockOption;
  block2?: BlockOption;
  size1?: number;
  size2?: number;
  locationPath?: readonly string[];
}

export type ReplyFn = (reply: CoapReply) => void;
export type RequestHandler = (req: CoapRequest, reply: ReplyFn) => void;

/** Counters for the fleet report. Dropped (fault-injected) datagrams still count as sent. */
export interface EndpointStats {
  packetsSent: number;
  bytesSent: number;
  packetsReceived: number;
  bytesReceived: number;
  retransmissions: number;
  /** Datagrams that did not parse as CoAP, or broke a message-format rule. */
  malformed: number;
  /** Duplicate CON/NON messages answered from the cache or ignored. */
  duplicates: number;
  droppedOutgoing: number;
  droppedIncoming: number;
  sendErrors: number;
  /** Request handlers or callbacks that threw (answered 5.00, never rethrown). */
  handlerErrors: number;
}

export function emptyStats(): EndpointStats {
  return {
    packetsSent: 0,
    bytesSent: 0,
    packetsReceived: 0,
    bytesReceived: 0,
    retransmissions: 0,
    malformed: 0,
    duplicates: 0,
    droppedOutgoing: 0,
    droppedIncoming: 0,
    sendErrors: 0,
    handlerErrors: 0,
  };
}

export function addStats(into: EndpointStats, from: Readonly<EndpointStats>): EndpointStats {
  for (const k of Object.keys(into) as (keyof EndpointStats)[]) into[k] += from[k];
  return into;
}

export function toPayload(p: Buffer | string | undefined): Buffer {
  if (p === undefined) return Buffer.alloc(0);
  return typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
}
