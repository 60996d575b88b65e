/**
 * Object 0, LwM2M Security, instance 0 (LwM2M 1.1 Core, Appendix E.1), minimal: the server URI,
 * not a bootstrap server, security mode NoSec (coap://) or Pre-Shared Key (coaps://), short server ID 1. Core §6.3: a LwM2M Server must
 * not reach this object, so the DM interface answers 4.01 for it and registration leaves it out.
 */
import { Security } from '../../protocols/objects.ts';
import { bool, fail, int, str } from './model.ts';
import type { DmResult, ObjectInstance, ResourceDef, ResourceValue } from './model.ts';

const SERVER_URI = 0;
const BOOTSTRAP_SERVER = 1;
const SECURITY_MODE = 2;
const SHORT_SERVER_ID = 10;
/** Security Mode (resource 2): 0 Pre-Shared Key, 3 NoSec. */
export const SecurityMode = { PSK: 0, NO_SEC: 3 } as const;

export class SecurityObject implements ObjectInstance {
  readonly objectId = Security.OBJECT_ID;
  readonly instanceId = 0;
  readonly objectVersion = '1.1';
  readonly resources: readonly ResourceDef[] = [
    { id: SERVER_URI, kind: 'string', ops: 'R' },
    { id: BOOTSTRAP_SERVER, kind: 'boolean', ops: 'R' },
    { id: SECURITY_MODE, kind: 'integer', ops: 'R' },
    { id: SHORT_SERVER_ID, kind: 'integer', ops: 'R' },
  ];
  readonly serverUri: string;
  readonly mode: number;

  constructor(serverUri: string, mode: number = SecurityMode.NO_SEC) {
    this.serverUri = serverUri;
    this.mode = mode;
  }

  read(id: number): ResourceValue | undefined {
    switch (id) {
      case SERVER_URI:
        return str(this.serverUri);
      case BOOTSTRAP_SERVER:
        return bool(false);
      case SECURITY_MODE:
        return int(this.mode);
      case SHORT_SERVER_ID:
        return int(1);
      default:
        return undefined;
    }
  }

  write(): DmResult {
    return fail('4.01', 'the Security object is not accessible to a LwM2M Server');
  }

  execute(): DmResult {
    return fail('4.01', 'the Security object is not accessible to a LwM2M Server');
  }
}
