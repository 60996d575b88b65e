/**
 * The composition root: builds the store, the CoAP endpoint, the DM client, the update engine and
 * the admin API from one Config, starts them, and stops them cleanly.
 */
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { Alerts } from './alerts/alerts.ts';
import { buildApi } from './api/app.ts';
import { AddressProof } from './coap/address-proof.ts';
import { DmClient } from './coap/dm-client.ts';
import { dmDevicePort } from './coap/device-port.ts';
import { DownloadAccess } from './coap/download-access.ts';
import { EchoMinter } from './coap/echo.ts';
import { Lwm2mOperations } from './coap/lwm2m-operations.ts';
import { DownloadServer } from './coap/download-server.ts';
import { CoapEndpoint } from './coap/endpoint.ts';
import { guardSamples } from './coap/guard.ts';
import { firmwareResponder, type BlockServed } from './coap/fw.ts';
import { ImageCache } from './coap/image-cache.ts';
import { registrationInterface } from './coap/rd.ts';
import { bucketOf } from './coap/rate-limit.ts';
import { Registrations } from './coap/registrations.ts';
import { lwm2mRoutes } from './coap/routes.ts';
import { downloadPortOf, type Config } from './config.ts';
import { describePackageKeys, loadPackageKeys } from './firmware/keys.ts';
import { CredentialService } from './credentials/service.ts';
import { loadSecretsKey } from './credentials/secrets-key.ts';
import { checkSecretsKey } from './credentials/startup.ts';
import { DeviceActivity } from './fota/activity.ts';
import { CampaignDriver } from './fota/campaigns.ts';
import { UpdateEngine } from './fota/engine.ts';
import type { Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { every } from './periodic.ts';
import type { Db } from './store/db.ts';
import { loadFirmwarePayload } from './store/firmware.ts';
import { updatingAt } from './store/updates.ts';
import { openDb } from './store/open.ts';
import { ensureAdminToken } from './store/tokens.ts';

export interface Ferry {
  db: Db;
  engine: UpdateEngine;
  alerts: Alerts;
  campaigns: CampaignDriver;
  /** Device PSKs: provisioning, and the look-up of a key by identity for DTLS handshakes. */
  credentials: CredentialService;
  /** This node's name in campaign leases and device ownership. */
  nodeId: string;
  dm: DmClient;
  api: FastifyInstance;
  coap: CoapEndpoint;
  /** Where the CoAP endpoint listens. */
  coapAddress: { address: string; port: number };
  /** The firmware download socket; undefined when --download-port is the CoAP port (/fw on the CoAP socket). */
  download: DownloadServer | undefined;
  /** Where firmware is served: the download socket, or the CoAP endpoint. */
  downloadAddress: { address: string; port: number };
  /** Base URL of the admin API, e.g. http://127.0.0.1:8080 */
  apiUrl: string;
  /** This instance's Prometheus registry and counters (served at /metrics); campaigns and alerts add theirs. */
  metrics: Metrics;
  close(): Promise<void>;
}

export interface StartOptions {
  log: Logger;
  /** An already-open, migrated database (tests); otherwise opened from the config. */
  db?: Db;
  /** How often registrations and updates are checked for expiry (ms). */
  sweepMs?: number;
  /** Shows the admin token made at first start, once (default: a notice on stderr, outside the JSON log). */
  announceToken?: (token: string) => void;
  /** Called when a campaign pauses itself (the alerts module). */
  onAlert?: ConstructorParameters<typeof CampaignDriver>[0]['onAlert'];
}

const announceOnStderr = (token: string): void => {
  process.stderr.write(`\n  No API token existed, so Ferry made an admin token. It is shown this once; keep it:\n\n      ${token}\n\n`
    + '  Use it as "Authorization: Bearer <token>"; create others with POST /api/v1/tokens, or set FERRY_ADMIN_TOKEN.\n\n');
};

export async function startFerry(config: Config, o: StartOptions): Promise<Ferry> {
  const log = o.log;
  const started = Date.now();
  // Key files first: a missing or bad one stops start-up before anything listens (KeyFileError names it).
  const packageKeys = await loadPackageKeys(config);
  log.info(describePackageKeys(packageKeys), 'package keys');
  const secretsKey = config.secretsKeyFile === undefined ? undefined : await loadSecretsKey(config.secretsKeyFile);
  const ownDb = o.db === undefined;
  const db = o.db ?? await openDb({
    ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: config.dbDir }),
    log: (msg) => log.info(msg),
  });
  log.info({ driver: db.driver, ms: Date.now() - started }, 'database ready');
  await checkSecretsKey(db, secretsKey).catch(async (err: unknown) => { if (ownDb) await db.close(); throw err; });
  const credentials = new CredentialService({ db, secretsKey });

  const metrics = new Metrics(db);
  const images = new ImageCache({ maxBytes: config.imageCacheMb * 1024 * 1024, load: (id) => loadFirmwarePayload(db, id) });
  // Which source addresses have shown they receive what we send, shared by both sockets and the DM client.
  const proof = new AddressProof();
  const echo = new EchoMinter();
  const unprovenRate = bucketOf(config.unprovenRate);
  const access = new DownloadAccess({ proof, echo, rate: bucketOf(config.downloadRate), updating: (address) => updatingAt(db, address), log });
  const activity = new DeviceActivity();
  const blockServed = (socket: 'coap' | 'download') => (b: BlockServed): void => {
    metrics.blocksServed.inc({ socket });
    activity.heard(b.address, b.port);
  };

  // The sockets first (bound, not yet answering requests), then what talks through them, then the handlers.
  const coap = await CoapEndpoint.listen({
    host: config.coapHost, port: config.coapPort, log, proof, echo, unprovenRate, block1: { maxBody: config.maxRegistrationPayload },
  });
  const coapAddress = coap.address();
  const nodeId = config.nodeId ?? `${hostname()}:${coapAddress.port}`;
  const downloadPort = downloadPortOf(config, coapAddress.port);
  const download = downloadPort === undefined ? undefined
    : await DownloadServer.listen({ host: config.coapHost, port: downloadPort, images, log, proof, echo, access, unprovenRate, onBlock: blockServed('download') })
      .catch(async (err: unknown) => { await coap.close(); throw err; });
  const downloadAddress = download?.address() ?? coapAddress;
  metrics.registerCollector('ferry_coap_guard_datagrams', 'datagrams each UDP socket\'s guard has seen since start, by outcome (malformed, formatErrors, refused, rateLimited, withheld, pings, handlerErrors; datagrams: all)',
    ['socket', 'outcome'], () => guardSamples([coap.guard, download?.guard]));
  metrics.registerCollector('ferry_coap_addresses_proven', 'source addresses that proved they receive (an Echo sent back, or an answer to a request of Ferry\'s) since start', [],
    () => [{ labels: {}, value: proof.stats.proven }]);

  const dm = new DmClient({ agent: coap.agent, timeoutMs: config.requestTimeout * 1000, log, queueAwakeMs: config.queueAwake * 1000, isProven: (a) => proof.isProven(a) });
  const publicPort = config.publicPort ?? downloadAddress.port;
  const publicHost = config.publicHost.includes(':') ? `[${config.publicHost}]` : config.publicHost;
  const alerts = new Alerts({
    db, log, webhook: config.alertWebhook === undefined ? undefined
      : { url: config.alertWebhook, secret: config.alertWebhookSecret, maxAttempts: config.alertWebhookAttempts },
  });
  const engine = new UpdateEngine({
    db, dm: dmDevicePort(dm), activity, log, images, alerts, downloadBase: `coap://${publicHost}:${publicPort}`,
    updateTimeoutSeconds: config.updateTimeout, pokeAfterSeconds: config.pokeAfter, nodeId: () => nodeId,
  });
  const registrations = new Registrations({
    db, log, dm, follower: engine, activity, hardwareClassFrom: config.hardwareClassFrom, retentionSeconds: config.deviceRetention,
    counters: { registration: (kind) => metrics.registrations.inc({ kind }), refused: (reason) => metrics.registrationsRefused.inc({ reason }) },
  });
  coap.serve(lwm2mRoutes({
    rd: registrationInterface({
      db, log, nodeId: () => nodeId, maxPayload: config.maxRegistrationPayload, maxLifetime: config.maxLifetime,
      limits: { perIp: config.registerLimitIp, perIpPort: config.registerLimitIpPort, global: config.registerLimitGlobal },
      hooks: registrations.hooks,
    }),
    fw: firmwareResponder({ images, access, onBlock: blockServed('coap') }),
  }));
  // Expiry first, so an update whose device's registration just ended is not poked.
  const sweep = every(o.sweepMs ?? 1000, async () => {
    await registrations.sweep();
    await engine.sweep();
  }, log, 'sweep');

  const campaigns = new CampaignDriver({
    db, engine, log, nodeId, tickMs: config.campaignTick, leaseSeconds: Math.max(10, Math.ceil(config.campaignTick / 100)),
    alerts, ...(o.onAlert ? { onAlert: o.onAlert } : {}),
  });

  const api = await buildApi({ db, engine, campaigns, credentials, metrics, evictImage: (id) => images.evict(id), ops: new Lwm2mOperations(dm), log, maxUploadBytes: config.maxUploadMb * 1024 * 1024, imageCacheBytes: config.imageCacheMb * 1024 * 1024, packageKeys, sockets: { coap, download } });
  const apiUrl = await api.listen({ host: config.apiHost, port: config.apiPort });
  alerts.start();
  campaigns.start();
  // After everything listens, so a start-up that fails prints no token it will not serve.
  const admin = await ensureAdminToken(db, config.adminToken);
  if (admin.revokedConfigured) log.warn('FERRY_ADMIN_TOKEN was revoked through the API and stays revoked');
  if (admin.generated !== undefined) {
    log.warn('no API token existed: an admin token was made and shown on stderr, once');
    (o.announceToken ?? announceOnStderr)(admin.generated);
  }
  log.info({ node: nodeId, coap: `${coapAddress.address}:${coapAddress.port}`, download: `${downloadAddress.address}:${downloadAddress.port}`, api: apiUrl, ms: Date.now() - started }, 'ferry serving');

  let closing: Promise<void> | undefined;
  return {
    db, engine, alerts, campaigns, credentials, nodeId, dm, api, coap, coapAddress, download, downloadAddress, apiUrl, metrics,
    close() {
      closing ??= (async () => {
        await sweep.stop();
        await campaigns.stop();
        await api.close();
        dm.close();
        await coap.close();
        await download?.close();
        await registrations.idle();
        await engine.idle();
        await alerts.close();
        if (ownDb) await db.close();
        log.info('ferry stopped');
      })();
      return closing;
    },
  };
}
