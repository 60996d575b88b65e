/**
 * The simulator's LwM2M data model: object instances with typed resources, and what the
 * Device Management interface (dm.ts) may do with them (LwM2M 1.1 Core §6 operations R, W, E).
 * Codecs stay in protocols/; an instance only deals in typed values.
 */

export type ResourceKind = 'string' | 'integer' | 'boolean' | 'opaque' | 'integers';

/** A value of a resource. 'integers' is a multiple-instance integer resource (instances 0..n-1). */
export type ResourceValue =
  | { kind: 'string'; value: string }
  | { kind: 'integer'; value: number }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'opaque'; value: Buffer }
  | { kind: 'integers'; value: readonly number[] };

export type Operations = 'R' | 'W' | 'RW' | 'E';

export interface ResourceDef {
  readonly id: number;
  readonly kind: ResourceKind;
  readonly ops: Operations;
}

/** The outcome of a Write or Execute; `after` runs once the response has been sent. */
export type DmResult = { ok: true; after?: () => void } | { ok: false; code: string; reason: string };

export interface ObjectInstance {
  readonly objectId: number;
  readonly instanceId: number;
  /** Object version for the registration link (`</3>;ver=1.1`). */
  readonly objectVersion: string;
  /** The resources this instance has, in ID order. */
  readonly resources: readonly ResourceDef[];
  read(resourceId: number): ResourceValue | undefined;
  write(resourceId: number, value: ResourceValue): DmResult;
  execute(resourceId: number, args: string): DmResult;
}

export const ok = (after?: () => void): DmResult => (after === undefined ? { ok: true } : { ok: true, after });
export const fail = (code: string, reason: string): DmResult => ({ ok: false, code, reason });

export function readable(def: ResourceDef): boolean {
  return def.ops === 'R' || def.ops === 'RW';
}

export function writable(def: ResourceDef): boolean {
  return def.ops === 'W' || def.ops === 'RW';
}

export const str = (value: string): ResourceValue => ({ kind: 'string', value });
export const int = (value: number): ResourceValue => ({ kind: 'integer', value });
export const bool = (value: boolean): ResourceValue => ({ kind: 'boolean', value });
