/**
 * The least role each route under /api/v1 needs, in one table: viewer < operator < admin.
 *
 * - viewer: reads of what the server holds (devices, firmware, updates, campaigns, alerts, the
 *   audit log). Nothing that changes state, and nothing that talks to a device.
 * - operator: actions on devices, firmware and campaigns, and every device management request
 *   (Read, Discover and Observe too: each is a request sent to the device, costing its radio and
 *   battery, and what it answers is the device's, not the inventory's).
 * - admin: users and API tokens, device credentials (DTLS pre-shared keys), the trusted package
 *   keys, and the audit chain's verification.
 *
 * The auth hook (auth.ts) goes by this table, keyed by method and route as Fastify declares it; a
 * HEAD needs what its GET does. A route under /api/v1 missing here has no role and is refused to
 * everyone (fail closed), so a new route is added here with its role. /healthz, /readyz, /docs
 * and /metrics are not under /api/v1 (metrics.ts has its own, optional, token).
 */
import type { Role } from '../store/tokens.ts';

export const ROUTE_ROLES: Readonly<Record<string, Role>> = {
  // Who is calling: the token's own name, role and user (the console shows what the role may do).
  'GET /api/v1/whoami': 'viewer',

  // Inventory and updates.
  'GET /api/v1/devices': 'viewer',
  'GET /api/v1/devices/:endpoint': 'viewer',
  'GET /api/v1/updates/:id': 'viewer',
  'POST /api/v1/devices/:endpoint/update': 'operator',
  'PUT /api/v1/devices/:endpoint/tags': 'operator',
  'POST /api/v1/updates/:id/cancel': 'operator',
  // Admin, not operator: decommissioning deletes the device's credentials (an admin's, below) and
  // refuses its Registers for good; an operator's reach is updates and campaigns, undone by another.
  'POST /api/v1/devices/:endpoint/decommission': 'admin',

  // Firmware images.
  'GET /api/v1/firmware': 'viewer',
  'GET /api/v1/firmware/:id': 'viewer',
  'POST /api/v1/firmware': 'operator',
  'DELETE /api/v1/firmware/:id': 'operator',

  // Trusted package keys: who may sign firmware the fleet takes.
  'GET /api/v1/keys': 'viewer',
  'POST /api/v1/keys': 'admin',
  'PATCH /api/v1/keys/:name': 'admin',
  'POST /api/v1/keys/:name/revoke': 'admin',

  // Releases: only an approver approves (and not the image's uploader: four-eyes); testbeds and their policies.
  'GET /api/v1/firmware/:id/evidence': 'viewer',
  'POST /api/v1/firmware/:id/approve': 'approver',
  'POST /api/v1/firmware/:id/deprecate': 'operator',
  'POST /api/v1/firmware/:id/revoke': 'operator',
  'PUT /api/v1/devices/:endpoint/testbed': 'operator',
  'GET /api/v1/testbed-policies/:hardwareClass': 'viewer',
  // What evidence a release needs is a security setting, as tokens and keys are.
  'PUT /api/v1/testbed-policies/:hardwareClass': 'admin',

  // Campaigns.
  'GET /api/v1/campaigns': 'viewer',
  'GET /api/v1/campaigns/:id': 'viewer',
  'POST /api/v1/campaigns': 'operator',
  'POST /api/v1/campaigns/:id/start': 'operator',
  'POST /api/v1/campaigns/:id/pause': 'operator',
  'POST /api/v1/campaigns/:id/resume': 'operator',
  'POST /api/v1/campaigns/:id/abort': 'operator',
  'POST /api/v1/campaigns/:id/revert': 'operator',

  // Alerts and the audit log.
  'GET /api/v1/alerts': 'viewer',
  'POST /api/v1/alerts/:id/ack': 'operator',
  'GET /api/v1/events': 'viewer',
  // The whole log of a period in one answer, a load on the database a viewer's pages are not.
  'GET /api/v1/events/export': 'operator',
  // Recomputes the whole chain, and says where the log was tampered with.
  'GET /api/v1/audit/verify': 'admin',

  // Device management: every one is a request to the device, or what a device answered.
  'GET /api/v1/devices/:endpoint/lwm2m/*': 'operator',
  'PUT /api/v1/devices/:endpoint/lwm2m/*': 'operator',
  'POST /api/v1/devices/:endpoint/lwm2m/*': 'operator',
  'DELETE /api/v1/devices/:endpoint/lwm2m/*': 'operator',
  'POST /api/v1/devices/:endpoint/execute/*': 'operator',
  'GET /api/v1/devices/:endpoint/discover/*': 'operator',
  'PUT /api/v1/devices/:endpoint/attributes/*': 'operator',
  'POST /api/v1/devices/:endpoint/observe/*': 'operator',
  'GET /api/v1/devices/:endpoint/observe/*': 'operator',
  'DELETE /api/v1/devices/:endpoint/observe/*': 'operator',

  // Vulnerabilities and compliance.
  'GET /api/v1/vulnerabilities': 'viewer',
  'PUT /api/v1/vulnerabilities/:hardwareClass/:version': 'operator',
  'DELETE /api/v1/vulnerabilities/:hardwareClass/:version': 'operator',
  'GET /api/v1/compliance': 'viewer',
  'GET /api/v1/compliance/policies': 'viewer',
  // Operator, not admin: a policy changes what the compliance report and its gauge call a device,
  // not what any device runs or who may act; the operators who roll releases out and mark versions
  // vulnerable are the ones who say which releases the fleet should be on. Admin stays for who can
  // act (tokens) and speak as a device (credentials). Every change is audited with its user.
  'PUT /api/v1/compliance/policies/:hardwareClass': 'operator',

  // API tokens.
  'GET /api/v1/tokens': 'admin',
  'POST /api/v1/tokens': 'admin',
  'DELETE /api/v1/tokens/:id': 'admin',

  // Users: who holds which roles. A token belongs to one.
  'GET /api/v1/users': 'admin',
  'GET /api/v1/users/:name': 'admin',
  'POST /api/v1/users': 'admin',
  'PUT /api/v1/users/:name/roles': 'admin',
  'POST /api/v1/users/:name/disable': 'admin',

  // Device credentials: whoever sets a device's key can speak as the device.
  'GET /api/v1/devices/:endpoint/credentials': 'admin',
  'PUT /api/v1/devices/:endpoint/credentials': 'admin',
  'POST /api/v1/devices/:endpoint/credentials/rotate': 'admin',
  'DELETE /api/v1/devices/:endpoint/credentials': 'admin',
  'POST /api/v1/credentials/import': 'admin',
};

/** The role a route needs by the table, or undefined (not in it: refused to everyone). */
export function roleOf(method: string, url: string): Role | undefined {
  const m = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  return Object.hasOwn(ROUTE_ROLES, `${m} ${url}`) ? ROUTE_ROLES[`${m} ${url}`] : undefined;
}
