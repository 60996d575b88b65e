/**
 * The LwM2M socket's resources: /rd (the Registration interface, rd.ts) and /fw (firmware for
 * Package URIs that name this socket, fw.ts); anything else is 4.04.
 */
import type { CoapHandler } from './endpoint.ts';
import { replyError, uriPath } from './message.ts';
import { coapRefusal } from './refusal.ts';

type Resource = (req: Parameters<CoapHandler>[0], res: Parameters<CoapHandler>[1], segments: string[]) => Promise<void> | void;

export function lwm2mRoutes(r: { rd: Resource; fw: Resource }): CoapHandler {
  return async (req, res) => {
    const segments = uriPath(req);
    switch (segments[0]) {
      case 'rd': return r.rd(req, res, segments);
      case 'fw': return r.fw(req, res, segments);
      default: return replyError(res, coapRefusal('FERRY_COAP_NOT_FOUND', 'no such resource'));
    }
  };
}
