/**
 * Who may speak as an endpoint on the Registration interface. A PSK identity is provisioned for one
 * endpoint, and a DTLS session may register, update and de-register only that endpoint; an endpoint
 * that has credentials, or whose registration was made over DTLS, cannot be registered, updated or
 * de-registered over plain CoAP. A refusal is 4.03 and an impersonation attempt (impersonation.ts
 * records it and raises the alert, throttled).
 */
/** Where a request came from (node-coap's rsinfo). */
type RemoteInfo = { address: string; port: number };
import type { SecurityMode } from '../store/rows.ts';
import { coapRefusal, type CoapRefusal } from './refusal.ts';

export interface ImpersonationAttempt {
  endpoint: string;
  /** The socket the request came in on. */
  securityMode: SecurityMode;
  /** The PSK identity of the session, over DTLS. */
  identity?: string;
  from: string;
  operation: 'register' | 'update' | 'deregister';
  reason: 'identity-mismatch' | 'credentials-required';
}

export interface DeviceBindingOptions {
  securityMode: SecurityMode;
  /** The PSK identity of the session a request came in (DTLS sockets). */
  identityOf?: (address: string, port: number) => Buffer | undefined;
  /** The endpoint a PSK identity is provisioned for (current or previous key); undefined: none. */
  endpointOfIdentity: (identity: string) => Promise<string | undefined>;
  /** Whether the endpoint has credentials. */
  hasCredentials: (endpoint: string) => Promise<boolean>;
  /** Whether any device has credentials. */
  anyCredentials: () => Promise<boolean>;
  onImpersonation: (a: ImpersonationAttempt) => void;
}

/** An Update or De-register over another Security Mode than the Register: the client registers again (4.04 makes it). */
const REGISTER_AGAIN = coapRefusal('FERRY_RD_NOT_FOUND', 'no registration by that id over this channel: register again');

export class DeviceBinding {
  readonly securityMode: SecurityMode;
  private readonly o: DeviceBindingOptions;

  constructor(o: DeviceBindingOptions) {
    this.o = o;
    this.securityMode = o.securityMode;
  }

  /** Undefined when the Register of `endpoint` may go on; else the refusal to answer. */
  async register(endpoint: string, rinfo: RemoteInfo): Promise<CoapRefusal | undefined> {
    return this.check(endpoint, rinfo, 'register');
  }

  /**
   * Whether an Update or De-register on this socket needs its registration looked up: always over
   * DTLS; over plain CoAP only when some device has credentials (a lab with none asks nothing).
   */
  async checksChanges(): Promise<boolean> {
    return this.securityMode === 'psk' || this.o.anyCredentials();
  }

  /** Undefined when the Update or De-register of this registration may go on; else the refusal. */
  async change(registration: { endpoint: string; securityMode: SecurityMode }, rinfo: RemoteInfo, operation: 'update' | 'deregister'): Promise<CoapRefusal | undefined> {
    if (registration.securityMode === 'psk' && this.securityMode === 'nosec') {
      return this.refuse({ endpoint: registration.endpoint, from: at(rinfo), operation, reason: 'credentials-required' });
    }
    const refused = await this.check(registration.endpoint, rinfo, operation);
    if (refused !== undefined) return refused;
    return registration.securityMode === this.securityMode ? undefined : REGISTER_AGAIN;
  }

  private async check(endpoint: string, rinfo: RemoteInfo, operation: ImpersonationAttempt['operation']): Promise<CoapRefusal | undefined> {
    if (this.securityMode === 'nosec') {
      if (!await this.o.hasCredentials(endpoint)) return undefined;
      return this.refuse({ endpoint, from: at(rinfo), operation, reason: 'credentials-required' });
    }
    const identity = this.o.identityOf?.(rinfo.address, rinfo.port)?.toString('utf8');
    const owner = identity === undefined ? undefined : await this.o.endpointOfIdentity(identity);
    if (owner === endpoint) return undefined;
    return this.refuse({ endpoint, from: at(rinfo), operation, reason: 'identity-mismatch', ...(identity === undefined ? {} : { identity }) });
  }

  private refuse(a: Omit<ImpersonationAttempt, 'securityMode'>): CoapRefusal {
    this.o.onImpersonation({ ...a, securityMode: this.securityMode });
    return a.reason === 'identity-mismatch'
      ? coapRefusal('FERRY_RD_IDENTITY_MISMATCH', `this DTLS session's identity is not provisioned for endpoint ${a.endpoint}`)
      : coapRefusal('FERRY_RD_CREDENTIALS_REQUIRED', `endpoint ${a.endpoint} has credentials: it speaks only over its own DTLS session`);
  }
}

const at = (rinfo: RemoteInfo): string => `${rinfo.address}:${rinfo.port}`;
