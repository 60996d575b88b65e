/**
 * The composition root: builds the store, the CoAP endpoint, the DM client, the update engine and
 * the admin API from one Config, starts them, and stops them cleanly.
 */
import type { FastifyInstance } from 'fastify';
import { buildApi } from './api/app.ts';
import { readDeviceInfo } from './coap/device-info.ts';
import { DmClient, type Target } from './coap/dm-client.ts';
import { CoapEndpoint } from './coap/endpoint.ts';
import { firmwareResponder } from './coap/fw.ts';
import { ImageCache } from './coap/image-cache.ts';
import { replyError, uriPath } from './coap/message.ts';
import { registrationInterface } from './coap/rd.ts';
import type { Config } from './config.ts';
import { UpdateEngine } from './fota/engine.ts';
import type { Logger } from './log.ts';
import type { Db } from './store/db.ts';
import * as devices from './store/devices.ts';
import { loadFirmwarePayload } from './store/firmware.ts';
import { openDb } from './store/open.ts';
import type { Device } from './store/rows.ts';

export interface Ferry {
  db: Db;
  engine: UpdateEngine;
  dm: DmClient;
  api: FastifyInstance;
  coap: CoapEndpoint;
  /** Where the CoAP endpoint listens. */
  coapAddress: { address: string; port: number };
  /** Base URL of the admin API, e.g. http://127.0.0.1:8080 */
  apiUrl: string;
  close(): Promise<void>;
}

export interface StartOptions {
  log: Logger;
  /** An already-open, migrated database (tests); otherwise opened from the config. */
  db?: Db;
  /** How often registrations and updates are checked for expiry (ms). */
  sweepMs?: number;
}

export async function startFerry(config: Config, o: StartOptions): Promise<Ferry> {
  const log = o.log;
  const started = Date.now();
  const ownDb = o.db === undefined;
  const db = o.db ?? await openDb({
    ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: config.dbDir }),
    log: (msg) => log.info(msg),
  });
  log.info({ driver: db.driver, ms: Date.now() - started }, 'database ready');

  const images = new ImageCache({ maxBytes: config.imageCacheMb * 1024 * 1024, load: (id) => loadFirmwarePayload(db, id) });
  // Late-bound: the endpoint's handlers need the engine, the engine needs the endpoint's agent.
  let engine: UpdateEngine | undefined;
  let dm: DmClient | undefined;

  const target = (d: Device): Target => ({ endpoint: d.endpoint, address: d.address!, port: d.port! });
  /** After a registration: read /3/0 into the inventory, then let the engine act. */
  const followUp = async (device: Device): Promise<void> => {
    let current = device;
    try {
      const info = await readDeviceInfo(dm!, target(device), config.hardwareClassFrom);
      current = (await devices.setDeviceInfo(db, device.id, info)) ?? device;
      log.info({ endpoint: device.endpoint, ...info }, 'device info read');
    } catch (err) {
      log.warn({ endpoint: device.endpoint, err: err instanceof Error ? err.message : String(err) }, 'could not read /3/0 after registration');
    }
    await engine!.deviceRegistered(current);
  };
  const pending = new Set<Promise<void>>();
  const track = (work: Promise<void>): void => {
    const p = work.catch((err: unknown) => log.error({ err }, 'background work failed')).finally(() => pending.delete(p));
    pending.add(p);
  };

  const rd = registrationInterface({
    db, log,
    hooks: {
      registered: (device) => { dm!.forget(device.endpoint); track(followUp(device)); },
      updated: (device) => { engine!.deviceHeard(device.address!, device.port!); },
      left: (device) => { dm!.forget(device.endpoint); },
    },
  });
  const fw = firmwareResponder({ images, onBlock: (b) => engine!.deviceHeard(b.address, b.port) });

  const coap = await CoapEndpoint.listen({
    host: config.coapHost, port: config.coapPort, log,
    handler: async (req, res) => {
      const segments = uriPath(req);
      switch (segments[0]) {
        case 'rd': return rd(req, res, segments);
        case 'fw': return fw(req, res, segments);
        default: return replyError(res, '4.04', 'no such resource');
      }
    },
  });
  const coapAddress = coap.address();
  dm = new DmClient({ agent: coap.agent, timeoutMs: config.requestTimeout * 1000, log });
  const publicPort = config.publicPort ?? coapAddress.port;
  const publicHost = config.publicHost.includes(':') ? `[${config.publicHost}]` : config.publicHost;
  engine = new UpdateEngine({
    db, dm, log, downloadBase: `coap://${publicHost}:${publicPort}`, updateTimeoutSeconds: config.updateTimeout,
  });

  let sweeping = false;
  const sweep = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    track((async () => {
      for (const d of await devices.expireRegistrations(db)) {
        log.info({ endpoint: d.endpoint }, 'registration expired');
        dm!.forget(d.endpoint);
      }
      await engine!.sweep();
    })().finally(() => { sweeping = false; }));
  }, o.sweepMs ?? 1000);

  const api = await buildApi({ db, engine, log, maxUploadBytes: config.maxUploadMb * 1024 * 1024 });
  const apiUrl = await api.listen({ host: config.apiHost, port: config.apiPort });
  log.info({ coap: `${coapAddress.address}:${coapAddress.port}`, api: apiUrl, ms: Date.now() - started }, 'ferry serving');

  let closing: Promise<void> | undefined;
  return {
    db, engine, dm, api, coap, coapAddress, apiUrl,
    close() {
      closing ??= (async () => {
        clearInterval(sweep);
        await api.close();
        dm!.close();
        await coap.close();
        while (pending.size > 0) await Promise.all([...pending]);
        await engine!.idle();
        if (ownDb) await db.close();
        log.info('ferry stopped');
      })();
      return closing;
    },
  };
}
