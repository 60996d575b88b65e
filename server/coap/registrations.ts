/**
 * The registrations service: what follows the Registration interface's answers (rd.ts) and what
 * ends a registration without one.
 *
 * - Register: the DM client learns where the device is, Ferry reads /3/0 into the inventory (its
 *   firmware version and hardware class), then the update engine resumes what it has for it.
 * - Update: the DM client hears the device (queue mode: its held requests go out), it counts as
 *   talking (activity.ts, which the engine's watchdog reads), and an update no process follows is
 *   taken up.
 * - De-register, or expiry (the lifetime passed with no Update, swept periodically): both run the
 *   same `left` hook, so the DM client drops the device's observations and queued requests either way.
 * - A DTLS session that moved to a new address (RFC 9146 Connection ID: the device's NAT binding
 *   changed) moves its device's registration there: the DM client and the store send to it.
 * - Devices gone longer than the retention period are purged (store/devices.ts).
 */
import type { DeviceActivity } from '../fota/activity.ts';
import type { Db } from '../store/db.ts';
import * as devices from '../store/devices.ts';
import type { Device } from '../store/rows.ts';
import type { Logger } from '../log.ts';
import { readDeviceInfo, type HardwareClassSource } from './device-info.ts';
import { targetOf, type DmClient } from './dm-client.ts';
import type { RefusalReason, RegistrationHooks } from './rd.ts';

/** What the update engine is told of registrations. */
export interface RegistrationFollower {
  /** A device registered and its /3/0 was read (or could not be). */
  deviceRegistered(device: Device): Promise<void>;
  /** A registration Update arrived. */
  registrationUpdated(device: Device): Promise<void>;
}

/** How registrations are counted (metrics.ts). */
export interface RegistrationCounters {
  registration(kind: 'register' | 'update' | 'deregister' | 'expire'): void;
  refused(reason: RefusalReason): void;
}

export interface RegistrationsOptions {
  db: Db;
  log: Logger;
  dm: DmClient;
  follower: RegistrationFollower;
  /** When each device was last heard from: a registration Update counts. */
  activity: DeviceActivity;
  /** Which /3/0 fields name a device's hardware class. */
  hardwareClassFrom: HardwareClassSource;
  /** Seconds a de-registered or expired device is kept before it is purged; 0: kept for ever. */
  retentionSeconds: number;
  counters?: RegistrationCounters;
}

export class Registrations {
  /** The hooks rd.ts calls after each answer. */
  readonly hooks: RegistrationHooks;
  readonly #o: RegistrationsOptions;
  readonly #pending = new Set<Promise<void>>();
  readonly #purge: () => Promise<devices.PurgedDevice[]>;

  constructor(o: RegistrationsOptions) {
    this.#o = o;
    this.#purge = devices.retentionSweep(o.db, { retentionSeconds: o.retentionSeconds });
    const count = o.counters;
    this.hooks = {
      registered: (device) => {
        count?.registration('register');
        const t = targetOf(device);
        if (t) o.dm.registered(t, device.queueMode);
        this.#track(this.#followUp(device));
      },
      updated: (device) => {
        count?.registration('update');
        o.dm.heard(device.endpoint, device.queueMode, targetOf(device));
        if (device.address && device.port) o.activity.heard(device.address, device.port);
        this.#track(o.follower.registrationUpdated(device));
      },
      left: (device, why) => {
        count?.registration(why === 'expired' ? 'expire' : 'deregister');
        if (why === 'expired') o.log.info({ endpoint: device.endpoint }, 'registration expired');
        o.dm.forget(device.endpoint);
      },
      refused: (reason) => count?.refused(reason),
    };
  }

  /**
   * The DTLS session of `endpoint` moved to `to` (an authenticated record newer than any before
   * came from there): requests to the device go there, queued ones included; no new handshake,
   * no new registration.
   */
  moved(endpoint: string, to: { address: string; port: number }): void {
    const { db, dm, activity, log } = this.#o;
    dm.moved(endpoint, to);
    activity.heard(to.address, to.port);
    this.#track(devices.moveAddress(db, endpoint, to.address, to.port).then((device) => {
      if (device) log.info({ endpoint, to: `${to.address}:${to.port}` }, 'registration moved with its DTLS session');
    }));
  }

  /** Periodic: ends the registrations whose lifetime passed (through `left`), purges devices gone past the retention period. */
  async sweep(): Promise<void> {
    for (const device of await devices.expireRegistrations(this.#o.db)) this.hooks.left(device, 'expired');
    const purged = await this.#purge();
    if (purged.length > 0) this.#o.log.info({ count: purged.length, endpoints: purged.slice(0, 10).map((d) => d.endpoint) }, 'devices purged');
  }

  /** Resolves when every follow-up started so far has ended (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  /** After a registration: read /3/0 into the inventory, then let the engine act. */
  async #followUp(device: Device): Promise<void> {
    const { db, log, dm } = this.#o;
    let current = device;
    const target = targetOf(device);
    try {
      if (!target) throw new Error('the registration has no source address');
      const info = await readDeviceInfo(dm, target, device, this.#o.hardwareClassFrom);
      current = (await devices.setDeviceInfo(db, device.id, info)) ?? device;
      log.info({ endpoint: device.endpoint, ...info }, 'device info read');
    } catch (err) {
      log.warn({ endpoint: device.endpoint, err: err instanceof Error ? err.message : String(err) }, 'could not read /3/0 after registration');
    }
    await this.#o.follower.deviceRegistered(current);
  }

  #track(work: Promise<void>): void {
    const p = work.catch((err: unknown) => this.#o.log.error({ err }, 'registration follow-up failed')).finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }
}
