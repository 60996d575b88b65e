/**
 * LwM2M paths: /{Object ID}[/{Object Instance ID}[/{Resource ID}[/{Resource Instance ID}]]]
 * (LwM2M 1.1 Transport, Device Management & Service Enablement Interface). Each ID is a 16-bit
 * unsigned integer; 65535 (MAX_ID) is reserved and never names anything.
 */
import { DecodeError } from './errors.ts';

export interface Lwm2mPath {
  objectId: number;
  instanceId?: number;
  resourceId?: number;
  resourceInstanceId?: number;
}

/** The reserved ID value. Valid IDs are 0 .. MAX_ID - 1. */
export const MAX_ID = 65535;

/** Decimal, no sign, no leading zeros other than "0" itself; at most 5 digits. */
const ID_PATTERN = /^(?:0|[1-9][0-9]{0,4})$/;
/** "/65534/65534/65534/65534" */
const MAX_PATH_LENGTH = 24;

/** Parses '/5', '/5/0', '/5/0/1' or '/5/0/1/2'. */
export function parsePath(text: string): Lwm2mPath {
  if (typeof text !== 'string' || text.length === 0) throw invalid('path is empty');
  if (text.length > MAX_PATH_LENGTH) throw invalid('path is too long');
  if (text[0] !== '/') throw invalid('path must start with "/"');
  return pathFromSegments(text.slice(1).split('/'));
}

/** Builds a path from CoAP Uri-Path option values, e.g. ['5', '0', '1']. */
export function pathFromSegments(segments: readonly string[]): Lwm2mPath {
  if (segments.length < 1 || segments.length > 4) {
    throw invalid(`path must have 1 to 4 segments, got ${segments.length}`);
  }
  const ids = segments.map((segment, i) => parseId(segment, i));
  const path: Lwm2mPath = { objectId: ids[0] as number };
  if (ids[1] !== undefined) path.instanceId = ids[1];
  if (ids[2] !== undefined) path.resourceId = ids[2];
  if (ids[3] !== undefined) path.resourceInstanceId = ids[3];
  return path;
}

/** '/5/0/1'. Throws RangeError for an ID out of range or a gap (a resource without an instance). */
export function formatPath(p: Lwm2mPath): string {
  return '/' + pathSegments(p).join('/');
}

/** ['5', '0', '1'], for Uri-Path options. Same checks as formatPath(). */
export function pathSegments(p: Lwm2mPath): string[] {
  const ids = [p.objectId, p.instanceId, p.resourceId, p.resourceInstanceId];
  const out: string[] = [];
  let ended = false;
  for (const id of ids) {
    if (id === undefined) {
      ended = true;
      continue;
    }
    if (ended) throw new RangeError('path has a gap: a deeper ID is set while a shallower one is not');
    if (!Number.isInteger(id) || id < 0 || id >= MAX_ID) {
      throw new RangeError(`path ID must be an integer in 0..${MAX_ID - 1}, got ${id}`);
    }
    out.push(String(id));
  }
  return out;
}

const LEVELS = ['object ID', 'object instance ID', 'resource ID', 'resource instance ID'];

function parseId(segment: string, index: number): number {
  const what = LEVELS[index] ?? 'ID';
  if (typeof segment !== 'string' || !ID_PATTERN.test(segment)) {
    throw invalid(`${what} must be a decimal integer without sign or leading zeros`);
  }
  const id = Number(segment);
  if (id >= MAX_ID) throw invalid(`${what} ${id} is out of range (0..${MAX_ID - 1})`);
  return id;
}

function invalid(reason: string): DecodeError {
  return new DecodeError('path.invalid', reason);
}
