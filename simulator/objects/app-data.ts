/**
 * Object 19, LwM2M APPDATA / BinaryAppDataContainer (OMA LwM2M registry, version 1.0), a
 * multiple-instance object the server may Create and Delete instances of (Core §6.3.6, §6.3.7).
 * A subset of its resources, all RW: 1 Data Priority, 3 Data Description, 4 Data Format, 5 App ID.
 * Resource 0 (Data, multiple opaque) is left out: the simulator's model has no multiple opaque.
 */
import { fail, int, ok, str } from './model.ts';
import type { DmResult, ObjectInstance, ResourceDef, ResourceValue } from './model.ts';

export const APP_DATA_OBJECT = 19;

const DATA_PRIORITY = 1;
const DATA_DESCRIPTION = 3;
const DATA_FORMAT = 4;
const APP_ID = 5;

export class AppDataInstance implements ObjectInstance {
  readonly objectId = APP_DATA_OBJECT;
  readonly instanceId: number;
  readonly objectVersion = '1.0';
  readonly resources: readonly ResourceDef[] = [
    { id: DATA_PRIORITY, kind: 'integer', ops: 'RW' },
    { id: DATA_DESCRIPTION, kind: 'string', ops: 'RW' },
    { id: DATA_FORMAT, kind: 'string', ops: 'RW' },
    { id: APP_ID, kind: 'integer', ops: 'RW' },
  ];
  readonly #values = new Map<number, ResourceValue>();

  constructor(instanceId: number, description = '') {
    this.instanceId = instanceId;
    this.#values.set(DATA_PRIORITY, int(0));
    this.#values.set(DATA_DESCRIPTION, str(description));
    this.#values.set(DATA_FORMAT, str('application/octet-stream'));
    this.#values.set(APP_ID, int(0));
  }

  read(id: number): ResourceValue | undefined {
    return this.#values.get(id);
  }

  write(id: number, v: ResourceValue): DmResult {
    const def = this.resources.find((r) => r.id === id);
    if (def === undefined) return fail('4.04', `no resource /${APP_DATA_OBJECT}/${this.instanceId}/${id}`);
    if (v.kind !== def.kind) return fail('4.00', `/${APP_DATA_OBJECT}/${this.instanceId}/${id} takes a ${def.kind}`);
    // Data Priority is 0..3 (1 byte, "0: Immediate … 3: Low"); App ID a 16-bit unsigned.
    if (id === DATA_PRIORITY && v.kind === 'integer' && (v.value < 0 || v.value > 3)) return fail('4.00', 'Data Priority is 0..3');
    if (id === APP_ID && v.kind === 'integer' && (v.value < 0 || v.value > 65535)) return fail('4.00', 'App ID is 0..65535');
    this.#values.set(id, v);
    return ok();
  }

  execute(id: number): DmResult {
    return fail('4.05', `/${APP_DATA_OBJECT}/${this.instanceId}/${id} is not executable`);
  }
}
