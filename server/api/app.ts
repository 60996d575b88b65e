/** The admin API (Fastify): JSON schema on every route, JSON errors, never a 500 for a client error. */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AlertSink } from '../alerts/kinds.ts';
import { KeyRegistry, SERVER_SIGNING_NOTICE } from '../firmware/key-registry.ts';
import type { PackageKeys } from '../firmware/keys.ts';
import type { CampaignDriver } from '../fota/campaigns.ts';
import type { UpdateEngine } from '../fota/engine.ts';
import type { Logger } from '../log.ts';
import type { Db } from '../store/db.ts';
import { alertRoutes } from './alerts.ts';
import { deviceRoutes } from './devices.ts';
import { deviceActionRoutes } from './device-actions.ts';
import { acceptEmptyJson } from './body.ts';
import { installRequestLog } from './request-log.ts';
import { lwm2mRoutes } from './lwm2m.ts';
import type { Lwm2mOperations } from '../coap/lwm2m-operations.ts';
import { answerError, installErrorHandling } from './errors.ts';
import { firmwareRoutes } from './firmware.ts';
import { installValidation, refuseUndeclaredQueries } from './validation.ts';
import { healthRoutes, type BoundSocket } from './health.ts';
import { API_PREFIX, installAuth, watchRoutes } from './auth.ts';
import { tokenRoutes } from './tokens.ts';
import { userRoutes } from './users.ts';
import { eventRoutes } from './events.ts';
import { auditRoutes } from './audit.ts';
import type { AuditSigner } from '../audit/signer.ts';
import { installDocs } from './docs.ts';
import { metricsRoute } from './metrics.ts';
import type { Metrics } from '../metrics.ts';
import { campaignRoutes } from './campaigns.ts';
import { deviceTagRoutes } from './device-tags.ts';
import { credentialRoutes } from './credentials.ts';
import { complianceRoutes } from './compliance.ts';
import { vulnerabilityRoutes } from './vulnerabilities.ts';
import { keyRoutes } from './keys.ts';
import type { CredentialService } from '../credentials/service.ts';
import type { ApprovalMode } from '../governance/release-rules.ts';
import { releaseRoutes } from './releases.ts';
import { testbedRoutes } from './testbeds.ts';
import { consoleRoutes } from '../console/serve.ts';
import { whoamiRoutes } from './whoami.ts';
import { ferryVersion } from '../root.ts';

const FERRY_VERSION = ferryVersion();

export interface ApiDeps {
  db: Db;
  /** Device management operations for /api/v1/devices/:endpoint/lwm2m etc. */
  ops: Lwm2mOperations;
  engine: UpdateEngine;
  log: Logger;
  maxUploadBytes: number;
  /** The image cache's size: an upload whose image would not fit in it is refused (413). */
  imageCacheBytes?: number;
  /** Trusted keys and the optional signing key for firmware uploads. */
  packageKeys: PackageKeys;
  /** The trust anchors of uploads: those key files and the registry's keys (default: made from packageKeys, its files not recorded). */
  keys?: KeyRegistry;
  /** Drops a deleted image from the download cache. */
  evictImage?: (id: number) => void;
  /** Served at /metrics (Prometheus text format). */
  metrics: Metrics;
  /** When set, /metrics needs it (or an API token) as a bearer token; otherwise /metrics is open. */
  metricsToken?: string | undefined;
  /** The clock token expiry is judged and set by, in ms since the epoch (tests move it); default Date.now. */
  now?: () => number;
  /** The CoAP sockets /readyz checks are bound (by name: coap, coaps, download, download-coaps). */
  sockets?: Record<string, BoundSocket | undefined>;
  /** Device PSKs; without it /api/v1/devices/:endpoint/credentials is not served. */
  credentials?: CredentialService;
  /** The audit chain's signer; without it /api/v1/audit/verify and /api/v1/events/export are not served. */
  audit?: { signer: AuditSigner; checkpointFile?: string };
  /** Campaigns; without it /api/v1/campaigns is not served. */
  campaigns?: CampaignDriver;
  /** Where revoking a release (or the key that signed it) raises its campaign.paused alerts. */
  alerts?: AlertSink;
  /** --release-approval, shown in /readyz. */
  releaseApproval?: ApprovalMode;
  /** After a device was decommissioned: end the DTLS sessions of its deleted PSK identities, drop what is kept of it (main.ts). */
  onDecommissioned?: (endpoint: string, identities: readonly string[]) => void;
}

export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.log.child({ part: 'api' }) as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    frameworkErrors: answerError,
    // One line per request instead of Fastify's two (request-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
  });
  installRequestLog(app);
  installValidation(app);
  acceptEmptyJson(app);
  refuseUndeclaredQueries(app, API_PREFIX);
  installErrorHandling(app);
  app.decorate('apiRoutes', watchRoutes(app));
  installAuth(app, deps);
  const keys = deps.keys ?? new KeyRegistry({ db: deps.db, keys: deps.packageKeys, now: deps.now, log: deps.log });
  const serverSigning = keys.signingKey !== undefined;
  await installDocs(app, FERRY_VERSION, serverSigning ? [SERVER_SIGNING_NOTICE] : []);
  healthRoutes(app, { db: deps.db, sockets: deps.sockets ?? {}, serverSigning, releaseApproval: deps.releaseApproval });
  metricsRoute(app, deps);
  tokenRoutes(app, deps);
  userRoutes(app, deps);
  firmwareRoutes(app, { ...deps, keys });
  keyRoutes(app, { db: deps.db, keys, alerts: deps.alerts, now: deps.now });
  deviceRoutes(app, deps);
  deviceActionRoutes(app, { db: deps.db, engine: deps.engine, onDecommissioned: (endpoint, identities) => {
    deps.credentials?.forgetCached();
    deps.onDecommissioned?.(endpoint, identities);
  } });
  lwm2mRoutes(app, deps);
  alertRoutes(app, deps);
  if (deps.audit) auditRoutes(app, { db: deps.db, audit: deps.audit });
  eventRoutes(app, deps);
  deviceTagRoutes(app, deps);
  vulnerabilityRoutes(app, deps);
  complianceRoutes(app, deps);
  releaseRoutes(app, deps);
  testbedRoutes(app, deps);
  if (deps.credentials) credentialRoutes(app, { credentials: deps.credentials });
  if (deps.campaigns) campaignRoutes(app, { campaigns: deps.campaigns });
  whoamiRoutes(app);
  consoleRoutes(app);
  await app.ready();
  return app;
}
