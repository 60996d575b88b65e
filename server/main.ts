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
import type { DownloadServer } from './coap/download-server.ts';
import type { CoapEndpoint, CoapHandler } from './coap/endpoint.ts';
import { openChannels } from './coap/channels.ts';
import { DeviceBinding } from './coap/device-binding.ts';
import { FirmwareGate } from './coap/firmware-gate.ts';
import { Impersonations } from './coap/impersonation.ts';
import type { DtlsLayerOptions } from './coap/udp-socket.ts';
import { confirmRotation, registerDtlsMetrics } from './dtls/wiring.ts';
import type { RebindEvent, SessionStarted } from './dtls/socket.ts';
import { guardSamples } from './coap/guard.ts';
import { firmwareResponder, type BlockServed } from './coap/fw.ts';
import { ImageCache } from './coap/image-cache.ts';
import { registrationInterface } from './coap/rd.ts';
import { bucketOf } from './coap/rate-limit.ts';
import { Registrations } from './coap/registrations.ts';
import { lwm2mRoutes } from './coap/routes.ts';
import type { Config } from './config.ts';
import { KeyRegistry, SERVER_SIGNING_NOTICE } from './firmware/key-registry.ts';
import { describePackageKeys, loadPackageKeys } from './firmware/keys.ts';
import { CredentialService } from './credentials/service.ts';
import { loadSecretsKey } from './credentials/secrets-key.ts';
import { checkSecretsKey } from './credentials/startup.ts';
import { Auditor } from './audit/auditor.ts';
import { AuditSigner } from './audit/signer.ts';
import { DeviceActivity } from './fota/activity.ts';
import { CampaignDriver } from './fota/campaigns.ts';
import { UpdateEngine } from './fota/engine.ts';
import type { Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { every } from './periodic.ts';
import { registerComplianceMetric } from './compliance/metric.ts';
import { alertOverdueVulnerabilities } from './compliance/overdue.ts';
import type { Db } from './store/db.ts';
import { firmwareIdByName, loadFirmwarePayload } from './store/firmware.ts';
import { updatingAt, updatingWith } from './store/updates.ts';
import { openDb } from './store/open.ts';
import { ensureAdminToken } from './store/tokens.ts';

export interface Ferry {
  db: Db;
  engine: UpdateEngine;
  alerts: Alerts;
  campaigns: CampaignDriver;
  /** Device PSKs: provisioning, and the look-up of a key by identity for DTLS handshakes. */
  credentials: CredentialService;
  /** Seals the audit log's events, signs checkpoints, archives past --audit-retention. */
  auditor: Auditor;
  /** This node's name in campaign leases and device ownership. */
  nodeId: string;
  dm: DmClient;
  api: FastifyInstance;
  /** LwM2M over plain CoAP; undefined under --security psk. */
  coap: CoapEndpoint | undefined;
  /** LwM2M over DTLS; undefined under --security nosec. */
  coaps: CoapEndpoint | undefined;
  /** Where the plain CoAP endpoint listens. */
  coapAddress: { address: string; port: number } | undefined;
  /** Where the coaps endpoint listens. */
  coapsAddress: { address: string; port: number } | undefined;
  /** The plain firmware download socket; undefined when --download-port is the CoAP port (/fw on the CoAP socket), or under psk. */
  download: DownloadServer | undefined;
  /** The DTLS firmware download socket; undefined when it is the coaps port, or under nosec. */
  secureDownload: DownloadServer | undefined;
  /** Where firmware is served over plain CoAP: the download socket, or the CoAP endpoint. */
  downloadAddress: { address: string; port: number } | undefined;
  /** Where firmware is served over DTLS. */
  secureDownloadAddress: { address: string; port: number } | undefined;
  /** Refused attempts to speak as a device with credentials. */
  impersonations: Impersonations;
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
  /** How often versions marked vulnerable are checked for devices running them past their deadline (ms; default a minute). */
  complianceCheckMs?: number;
  /** Shows the admin token made at first start, once (default: a notice on stderr, outside the JSON log). */
  announceToken?: (token: string) => void;
  /** Called when a campaign pauses itself (the alerts module). */
  onAlert?: ConstructorParameters<typeof CampaignDriver>[0]['onAlert'];
  /** The clock the API judges token expiry by, in ms since the epoch (tests move it); default Date.now. */
  now?: () => number;
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
  // The key files become the registry's file keys; one that clashes with a key added through the API stops start-up.
  const keys = new KeyRegistry({ db, keys: packageKeys, now: o.now, log });
  await keys.recordFiles().catch(async (err: unknown) => { if (ownDb) await db.close(); throw err; });
  if (packageKeys.signingKey !== undefined) log.warn({ key: 'server-signing' }, SERVER_SIGNING_NOTICE);
  const credentials = new CredentialService({ db, secretsKey });
  const auditSigner = new AuditSigner(secretsKey);
  if (!auditSigner.keyed) log.warn('no --secrets-key-file: the audit log is chained with plain SHA-256, evident against accidents only');
  const auditor = new Auditor({
    db, signer: auditSigner, log, retentionSeconds: config.auditRetention,
    ...(config.auditCheckpointFile === undefined ? {} : { checkpointFile: config.auditCheckpointFile }),
  });

  const metrics = new Metrics(db);
  registerComplianceMetric(metrics, db);
  const images = new ImageCache({ maxBytes: config.imageCacheMb * 1024 * 1024, load: (id) => loadFirmwarePayload(db, id) });
  // Which source addresses have shown they receive what we send, shared by both sockets and the DM client.
  const proof = new AddressProof();
  const echo = new EchoMinter();
  const unprovenRate = bucketOf(config.unprovenRate);
  const access = new DownloadAccess({ proof, echo, rate: bucketOf(config.downloadRate), updating: (address) => updatingAt(db, address), log });
  const activity = new DeviceActivity();
  const blockServed = (socket: 'coap' | 'download' | 'coaps' | 'download-coaps') => {
    // The socket's counter found once: inc() with labels looks them up on every block.
    const served = metrics.blocksServed.labels({ socket });
    return (b: BlockServed): void => {
      served.inc();
      activity.heard(b.address, b.port);
    };
  };
  const gate = (securityMode: 'psk' | 'nosec'): FirmwareGate => new FirmwareGate({
    securityMode, log, idOfName: (name) => firmwareIdByName(db, name), updatingWith: (who, id) => updatingWith(db, who, id),
    endpointOfIdentity: (identity) => credentials.endpointOfIdentity(identity),
  });
  const gates = { nosec: gate('nosec'), psk: gate('psk') };
  const dtls: DtlsLayerOptions = {
    pskFor: async (identity) => {
      const found = await credentials.pskFor(identity.toString('utf8'));
      return found?.current ?? found?.previous ?? undefined;
    },
    maxSessions: config.dtlsMaxSessions, idleMs: config.dtlsIdle * 1000,
    ...(config.pskIdentityHint === undefined ? {} : { identityHint: Buffer.from(config.pskIdentityHint, 'utf8') }),
  };

  // The sockets first (bound, not yet answering requests), then what talks through them, then the handlers.
  const channels = await openChannels({ config, log, proof, echo, access, images, unprovenRate, dtls, gates, onBlock: blockServed });
  const { coap, coaps, download, secureDownload } = channels;
  for (const endpoint of [coaps, secureDownload]) endpoint?.dtls?.on('session', (s: SessionStarted) => confirmRotation(credentials, s, log));
  const coapAddress = coap?.address();
  const coapsAddress = coaps?.address();
  const nodeId = config.nodeId ?? `${hostname()}:${(coapAddress ?? coapsAddress)?.port ?? 0}`;
  const downloadAddress = coap === undefined ? undefined : download?.address() ?? coapAddress;
  const secureDownloadAddress = coaps === undefined ? undefined : secureDownload?.address() ?? coapsAddress;
  metrics.registerCollector('ferry_coap_guard_datagrams', 'datagrams each UDP socket\'s guard has seen since start, by outcome (malformed, formatErrors, refused, rateLimited, withheld, pings, handlerErrors; datagrams: all)',
    ['socket', 'outcome'], () => guardSamples([coap?.guard, coaps?.guard, download?.guard, secureDownload?.guard, channels.legacyDownload?.guard]));
  metrics.registerCollector('ferry_coap_addresses_proven', 'source addresses that proved they receive (an Echo sent back, or an answer to a request of Ferry\'s) since start', [],
    () => [{ labels: {}, value: proof.stats.proven }]);
  registerDtlsMetrics(metrics, { coaps: coaps?.dtls, 'download-coaps': secureDownload?.dtls });
  metrics.registerCollector('ferry_firmware_refused', 'GET /fw refused since start, by security mode and reason (unknown: no image by that name, or a counting id no update of the requester names; not_yours: over DTLS, the session\'s device has no update of that image)',
    ['security', 'reason'], () => (['nosec', 'psk'] as const).flatMap((security) => [
      { labels: { security, reason: 'unknown' }, value: gates[security].stats.unknown },
      { labels: { security, reason: 'not_yours' }, value: gates[security].stats.notYours },
    ]));

  const dm = new DmClient({
    ...(coap ? { agent: coap.agent } : {}), ...(coaps ? { secureAgent: coaps.agent } : {}),
    timeoutMs: config.requestTimeout * 1000, log, queueAwakeMs: config.queueAwake * 1000, isProven: (a) => proof.isProven(a),
  });
  const publicHost = config.publicHost.includes(':') ? `[${config.publicHost}]` : config.publicHost;
  const plainBase = downloadAddress && `coap://${publicHost}:${config.publicPort ?? downloadAddress.port}`;
  const secureBase = secureDownloadAddress && `coaps://${publicHost}:${config.publicCoapsPort ?? secureDownloadAddress.port}`;
  const alerts = new Alerts({
    db, log, webhook: config.alertWebhook === undefined ? undefined
      : { url: config.alertWebhook, secret: config.alertWebhookSecret, maxAttempts: config.alertWebhookAttempts },
  });
  const engine = new UpdateEngine({
    db, dm: dmDevicePort(dm), activity, log, images, alerts, downloadBase: plainBase ?? secureBase ?? '', ...(secureBase ? { secureDownloadBase: secureBase } : {}),
    updateTimeoutSeconds: config.updateTimeout, pokeAfterSeconds: config.pokeAfter, nodeId: () => nodeId, releaseApproval: config.releaseApproval,
  });
  const registrations = new Registrations({
    db, log, dm, follower: engine, activity, hardwareClassFrom: config.hardwareClassFrom, retentionSeconds: config.deviceRetention,
    counters: { registration: (kind) => metrics.registrations.inc({ kind }), refused: (reason) => metrics.registrationsRefused.inc({ reason }) },
  });
  const impersonations = new Impersonations({ db, alerts, log });
  const routes = (endpoint: CoapEndpoint, securityMode: 'psk' | 'nosec'): CoapHandler => lwm2mRoutes({
    rd: registrationInterface({
      db, log, nodeId: () => nodeId, maxPayload: config.maxRegistrationPayload, maxLifetime: config.maxLifetime,
      limits: { perIp: config.registerLimitIp, perIpPort: config.registerLimitIpPort, global: config.registerLimitGlobal },
      hooks: registrations.hooks,
      binding: new DeviceBinding({
        securityMode, identityOf: (address, port) => endpoint.dtls?.identityOf(address, port),
        endpointOfIdentity: (identity) => credentials.endpointOfIdentity(identity),
        hasCredentials: (ep) => credentials.hasCredentials(ep), anyCredentials: () => credentials.anyCredentials(), onImpersonation: impersonations.attempt,
      }),
    }),
    fw: firmwareResponder({
      images, access, gate: gates[securityMode], onBlock: blockServed(securityMode === 'psk' ? 'coaps' : 'coap'),
      identityOf: (address, port) => endpoint.dtls?.identityOf(address, port),
    }),
  });
  // A session that moved (Connection ID) takes its device's registration along.
  coaps?.dtls?.on('rebind', (r: RebindEvent) => {
    void credentials.endpointOfIdentity(r.identity.toString('utf8')).then((endpoint) => {
      if (endpoint !== undefined) registrations.moved(endpoint, r.to);
    }, (err: unknown) => log.warn({ err }, 'could not follow a DTLS session to its new address'));
  });
  coap?.serve(routes(coap, 'nosec'));
  coaps?.serve(routes(coaps, 'psk'));
  // Expiry first, so an update whose device's registration just ended is not poked.
  const sweep = every(o.sweepMs ?? 1000, async () => {
    await registrations.sweep();
    await engine.sweep();
  }, log, 'sweep');

  const campaigns = new CampaignDriver({
    db, engine, log, nodeId, tickMs: config.campaignTick, leaseSeconds: Math.max(10, Math.ceil(config.campaignTick / 100)),
    alerts, releaseApproval: config.releaseApproval, ...(o.onAlert ? { onAlert: o.onAlert } : {}),
  });

  const evictImage = (id: number): void => {
    images.evict(id);
    gates.nosec.forget(id);
    gates.psk.forget(id);
  };
  // A decommissioned device: its DTLS sessions end (its keys are gone, so it cannot make another) and the DM client forgets it.
  const onDecommissioned = (endpoint: string, identities: readonly string[]): void => {
    for (const identity of identities) for (const socket of [coaps?.dtls, secureDownload?.dtls]) socket?.forgetIdentity(identity);
    dm.forget(endpoint);
  };
  const api = await buildApi({
    db, engine, campaigns, credentials, metrics, evictImage, onDecommissioned, ops: new Lwm2mOperations(dm), log, maxUploadBytes: config.maxUploadMb * 1024 * 1024,
    imageCacheBytes: config.imageCacheMb * 1024 * 1024, packageKeys, keys, alerts, sockets: { coap, coaps, download, 'download-coaps': secureDownload },
    metricsToken: config.metricsToken, releaseApproval: config.releaseApproval, ...(o.now ? { now: o.now } : {}),
    audit: { signer: auditSigner, ...(config.auditCheckpointFile === undefined ? {} : { checkpointFile: config.auditCheckpointFile }) },
  });
  const apiUrl = await api.listen({ host: config.apiHost, port: config.apiPort });
  alerts.start();
  campaigns.start();
  auditor.start();
  const complianceCheck = every(o.complianceCheckMs ?? 60_000, async () => { await alertOverdueVulnerabilities(db, alerts); }, log, 'compliance check');
  // After everything listens, so a start-up that fails prints no token it will not serve.
  const admin = await ensureAdminToken(db, config.adminToken);
  if (config.releaseApproval === 'off') {
    log.warn('--release-approval off: images that are not approved (but never revoked ones) go to every device, not only testbeds; a lab setting');
  }
  if (admin.revokedConfigured) log.warn('FERRY_ADMIN_TOKEN was revoked through the API and stays revoked');
  if (admin.generated !== undefined) {
    log.warn('no API token existed: an admin token was made and shown on stderr, once');
    (o.announceToken ?? announceOnStderr)(admin.generated);
  }
  const at = (a: { address: string; port: number } | undefined): string | undefined => a && `${a.address}:${a.port}`;
  log.info({
    node: nodeId, coap: at(coapAddress), coaps: at(coapsAddress), download: at(downloadAddress), secureDownload: at(secureDownloadAddress),
    api: apiUrl, ms: Date.now() - started,
  }, 'ferry serving');

  let closing: Promise<void> | undefined;
  return {
    db, engine, alerts, campaigns, credentials, auditor, nodeId, dm, api, coap, coaps, coapAddress, coapsAddress, download, secureDownload,
    downloadAddress, secureDownloadAddress, impersonations, apiUrl, metrics,
    close() {
      closing ??= (async () => {
        await sweep.stop();
        await campaigns.stop();
        await auditor.stop();
        await complianceCheck.stop();
        await api.close();
        dm.close();
        await channels.close();
        await registrations.idle();
        await impersonations.idle();
        await engine.idle();
        await alerts.close();
        if (ownDb) await db.close();
        log.info('ferry stopped');
      })();
      return closing;
    },
  };
}
