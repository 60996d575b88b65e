/**
 * Object 1, LwM2M Server, instance 0 (LwM2M 1.1 Core, Appendix E.2): one server, short server
 * ID 1. Writing Lifetime or executing Registration Update Trigger makes the device send a
 * registration update.
 */
import { Server } from '../../protocols/objects.ts';
import { bool, fail, int, ok, str } from './model.ts';
import type { DmResult, ObjectInstance, ResourceDef, ResourceValue } from './model.ts';

const NOTIFICATION_STORING = 6;
const REGISTRATION_UPDATE_TRIGGER = 8;

export interface ServerHooks {
  lifetimeChanged(lifetime: number): void;
  updateTrigger(): void;
}

export class ServerObject implements ObjectInstance {
  readonly objectId = Server.OBJECT_ID;
  readonly instanceId = 0;
  readonly objectVersion = '1.1';
  readonly resources: readonly ResourceDef[] = [
    { id: Server.SHORT_SERVER_ID, kind: 'integer', ops: 'R' },
    { id: Server.LIFETIME, kind: 'integer', ops: 'RW' },
    { id: NOTIFICATION_STORING, kind: 'boolean', ops: 'RW' },
    { id: Server.BINDING, kind: 'string', ops: 'RW' },
    { id: REGISTRATION_UPDATE_TRIGGER, kind: 'string', ops: 'E' },
  ];
  lifetime: number;
  #notificationStoring = false;
  readonly #hooks: ServerHooks;

  constructor(lifetime: number, hooks: ServerHooks) {
    this.lifetime = lifetime;
    this.#hooks = hooks;
  }

  read(id: number): ResourceValue | undefined {
    switch (id) {
      case Server.SHORT_SERVER_ID:
        return int(1);
      case Server.LIFETIME:
        return int(this.lifetime);
      case NOTIFICATION_STORING:
        return bool(this.#notificationStoring);
      case Server.BINDING:
        return str('U');
      default:
        return undefined;
    }
  }

  write(id: number, v: ResourceValue): DmResult {
    if (id === Server.LIFETIME && v.kind === 'integer') {
      if (!Number.isInteger(v.value) || v.value < 1 || v.value > 2 ** 31 - 1) return fail('4.00', 'lifetime must be a positive integer');
      const changed = v.value !== this.lifetime;
      this.lifetime = v.value;
      // LwM2M 1.1 Core §6.2.2: a changed lifetime is sent in a registration update.
      return ok(changed ? () => this.#hooks.lifetimeChanged(this.lifetime) : undefined);
    }
    if (id === NOTIFICATION_STORING && v.kind === 'boolean') {
      this.#notificationStoring = v.value;
      return ok();
    }
    if (id === Server.BINDING && v.kind === 'string') {
      return v.value === 'U' ? ok() : fail('4.00', 'this device supports only the U binding');
    }
    return fail('4.00', `bad value for /1/0/${id}`);
  }

  execute(id: number): DmResult {
    if (id !== REGISTRATION_UPDATE_TRIGGER) return fail('4.05', `/1/0/${id} is not executable`);
    return ok(() => this.#hooks.updateTrigger());
  }
}
