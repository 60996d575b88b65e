// Who may call what, walked from the server's own OpenAPI document (/docs/json), against rules
// written here and not read from the role table: a viewer reads (GET) and nothing else, and no
// device management at all (Read, Discover and Observe are requests to the device), nor the audit
// log's export in bulk; an operator does everything but users, tokens, device credentials, changes
// to the trusted package keys, the audit chain's verification and setting testbed policies, which
// are an admin's, and approving a release, which only an approver token does. Every refusal is a
// 403, JSON, FERRY_FORBIDDEN, naming the role needed; what is allowed is never refused for its
// role; the document's x-ferry-role says the role enforced. Then a real device: a viewer's Read
// never reaches it, an operator's does.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import * as devices from '../../../server/store/devices.ts';
import type { Role } from '../../../server/store/tokens.ts';
import { SimDevice } from '../../../simulator/device.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { offlineDevice } from '../../helpers/devices.ts';
import { bearer, eventually, injectRaw, startTestFerry } from '../../helpers/ferry.ts';

interface Operation { description?: string; 'x-ferry-role'?: string }
interface Document { paths: Record<string, Record<string, Operation>> }
type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

/** The device management routes: each is a request sent to the device, or what it answered. */
const DEVICE_MANAGEMENT = /^\/api\/v1\/devices\/\{endpoint\}\/(lwm2m|execute|discover|attributes|observe)\//;
/** Users, tokens, device credentials (decommissioning a device deletes them), and the audit chain's verification. */
const ADMIN_ONLY = /^\/api\/v1\/(users(\/|$)|tokens(\/|$)|credentials\/|audit\/)|\/credentials(\/|$)|\/decommission$/;
/** Changes to the trusted package keys (who may sign firmware the fleet takes); listing them is a read. */
const KEY_CHANGES = /^\/api\/v1\/keys(\/|$)/;
/** What evidence a release needs: an admin sets it (a viewer reads it). */
const POLICY_SETTING = /^\/api\/v1\/testbed-policies\//;
/** Approving a release: an approver token's alone (no level includes it). */
const APPROVING = /^\/api\/v1\/firmware\/\{id\}\/approve$/;
/** Reads in bulk (the whole audit log of a period): an operator's, though a GET. */
const BULK = /^\/api\/v1\/events\/export$/;

/** The least role a route should need, by the rules above. */
function expectedRole(method: Method, path: string): Role {
  if (ADMIN_ONLY.test(path) || (method !== 'GET' && (KEY_CHANGES.test(path) || POLICY_SETTING.test(path)))) return 'admin';
  if (APPROVING.test(path)) return 'approver';
  if (BULK.test(path)) return 'operator';
  if (method === 'GET' && !DEVICE_MANAGEMENT.test(path)) return 'viewer';
  return 'operator';
}

/** The document's path with values in: a device that exists but is offline, id 1, an LwM2M path. */
const concrete = (path: string): string => path.replace('{endpoint}', 'dev-a').replace('{id}', '1').replace('{path}', '3/0/0');

forEachDatabase('api, roles walked from the OpenAPI document', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db, { requestTimeout: 3 }); });
  suite.after(async () => { await ferry.close(); });

  const token = async (name: string, role: Role): Promise<string> => {
    const res = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name, role } });
    assert.is(res.statusCode, 201, res.body);
    return res.json().token;
  };

  suite('every operation: a viewer 403 on each non-GET and device management route, an operator 403 on the admin-only ones, and allowed otherwise', async () => {
    const tokens = { viewer: await token('walk-viewer', 'viewer'), operator: await token('walk-operator', 'operator') };
    await offlineDevice(get().db, 'dev-a');
    const res = await injectRaw(ferry, { method: 'GET', url: '/docs/json' });
    assert.is(res.statusCode, 200);
    const doc = res.json() as Document;

    const failures: string[] = [];
    const walked = { operations: 0, deviceManagement: 0, adminOnly: 0, approverOnly: 0, viewerRefused: 0, operatorRefused: 0 };
    for (const [path, item] of Object.entries(doc.paths)) {
      if (!path.startsWith('/api/v1/')) continue;
      for (const [m, op] of Object.entries(item)) {
        const method = m.toUpperCase() as Method;
        if ((method as string) === 'HEAD') continue;
        walked.operations++;
        if (DEVICE_MANAGEMENT.test(path)) walked.deviceManagement++;
        const needed = expectedRole(method, path);
        if (needed === 'admin') walked.adminOnly++;
        if (needed === 'approver') walked.approverOnly++;
        const route = `${method} ${path}`;
        if (op['x-ferry-role'] !== needed) failures.push(`${route}: the document says ${op['x-ferry-role']}, the rules ${needed}`);
        if (!op.description?.includes(`Needs the ${needed} role.`)) failures.push(`${route}: the description does not say the ${needed} role`);

        for (const role of ['viewer', 'operator'] as const) {
          // No body: a request that gets past the role check is refused for its body or finds nothing
          // (dev-a is offline, id 1 names nothing but the admin token, which the admin-only rule keeps out).
          const answer = await injectRaw(ferry, { method, url: concrete(path), headers: bearer(tokens[role]) });
          const body = (() => { try { return answer.json() as { code?: string; message?: string }; } catch { return {}; } })();
          const said = `${route} as ${role}: ${answer.statusCode} ${answer.body.slice(0, 120)}`;
          const refuse = role === 'viewer' ? needed !== 'viewer' : needed === 'admin' || needed === 'approver';
          if (refuse) {
            if (answer.statusCode !== 403 || body.code !== 'FERRY_FORBIDDEN' || !/application\/json/.test(String(answer.headers['content-type']))) failures.push(`${said} (should be 403 FERRY_FORBIDDEN)`);
            else if (!new RegExp(`needs the ${needed} role; token walk-${role} is ${role}`).test(body.message ?? '')) failures.push(`${said} (the message should name the role)`);
            else walked[role === 'viewer' ? 'viewerRefused' : 'operatorRefused']++;
          } else if (answer.statusCode === 401 || body.code === 'FERRY_FORBIDDEN') {
            failures.push(`${said} (should be allowed)`);
          }
        }
      }
    }
    assert.equal(failures, [], failures.join('\n'));
    console.log(`  [${get().name}] walked ${JSON.stringify(walked)}`);
    assert.ok(walked.operations >= 35, `${walked.operations} operations in the document`);
    assert.ok(walked.deviceManagement >= 10, `${walked.deviceManagement} device management operations`);
    assert.ok(walked.adminOnly >= 8, `${walked.adminOnly} admin-only operations`);
    assert.is(walked.approverOnly, 1);
    assert.is(walked.operatorRefused, walked.adminOnly + walked.approverOnly);
    // Every operation not a plain read is refused to a viewer: the walk counted each.
    assert.ok(walked.viewerRefused > walked.deviceManagement + walked.adminOnly);
  });

  suite('a viewer\'s Read, Discover and Observe never reach the device; an operator\'s do', async () => {
    const asked: string[] = [];
    const sim = new SimDevice({
      endpoint: 'dev-r', server: { host: '127.0.0.1', port: ferry.coapAddress!.port }, lifetime: 60, coap: { ackTimeoutMs: 300 },
      log: (e) => { if (e.type === 'dm') asked.push(`${e.method} ${e.path}`); },
    });
    await sim.start();
    try {
      await eventually(async () => ((await devices.findByEndpoint(get().db, 'dev-r'))?.firmwareVersion ? true : undefined), 5000, 'dev-r in the inventory');
      const viewer = await token('reader', 'viewer');
      const operator = await token('actor', 'operator');
      const before = asked.length;
      for (const [method, url] of [['GET', 'lwm2m/3/0/0'], ['GET', 'discover/3'], ['POST', 'observe/3/0/9'], ['GET', 'observe/3/0/9'], ['PUT', 'lwm2m/1/0/1'], ['POST', 'execute/1/0/8']] as const) {
        const res = await injectRaw(ferry, { method, url: `/api/v1/devices/dev-r/${url}`, headers: bearer(viewer), ...(method === 'PUT' ? { payload: { value: 60 } } : {}) });
        assert.is(res.statusCode, 403, `${method} ${url}: ${res.body}`);
        assert.is(res.json().code, 'FERRY_FORBIDDEN');
      }
      assert.equal(asked.slice(before), [], 'the device was asked nothing');
      const read = await injectRaw(ferry, { method: 'GET', url: '/api/v1/devices/dev-r/lwm2m/3/0/0', headers: bearer(operator) });
      assert.is(read.statusCode, 200, read.body);
      assert.is(read.json().values[0].value, 'Ferry Simulator');
      assert.ok(asked.slice(before).some((a) => a.startsWith('GET /3/0/0')), `the operator's Read reached the device: ${asked.join(', ')}`);
    } finally {
      await sim.stop();
    }
  });
});
