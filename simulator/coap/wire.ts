/** What the endpoint's client and server halves share: the clock, the socket, Message IDs, counters. */
import type { Packet } from 'coap-packet';
import type { Clock, Random } from '../clock.ts';
import type { EndpointStats, Peer } from './messages.ts';

export interface Wire {
  readonly clock: Clock;
  readonly random: Random;
  readonly stats: EndpointStats;
  send(buf: Buffer, peer: Peer): void;
  newMessageId(): number;
  /** coap-packet's generate, bounded by the endpoint's maxMessageSize; throws if too large. */
  encode(packet: Packet): Buffer;
  /** Runs a callback; an exception is counted (handlerErrors), never rethrown. */
  guard(fn: () => void): void;
}
