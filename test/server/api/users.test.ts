// Named users: an admin creates them with roles and gives them tokens; a token carries a role its
// user holds (or a level below one); withdrawing a role or disabling the user refuses its tokens at
// once; every change is an audit event; an admin cannot lock themselves out; bad bodies are 400.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { bearer, injectRaw, startTestFerry } from '../../helpers/ferry.ts';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

forEachDatabase('api, users', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db); });
  suite.after(async () => { await ferry.close(); });

  const admin = (method: Method, url: string, payload?: object) => ferry.api.inject({ method, url, ...(payload ? { payload } : {}) });
  const as = (token: string, method: Method, url: string, payload?: object) =>
    injectRaw(ferry, { method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
  const token = async (name: string, role: string, user?: string): Promise<string> => {
    const res = await admin('POST', '/api/v1/tokens', { name, role, ...(user ? { user } : {}) });
    assert.is(res.statusCode, 201, res.body);
    assert.is(res.json().user, user ?? name);
    return res.json().token;
  };

  suite('a user holds roles; its tokens carry one of them, or a level below one', async () => {
    const made = await admin('POST', '/api/v1/users', { name: 'alice', roles: ['approver', 'operator'] });
    assert.is(made.statusCode, 201, made.body);
    assert.equal(made.json().roles, ['operator', 'approver']);
    const operator = await token('alice-ops', 'operator', 'alice');
    const viewer = await token('alice-view', 'viewer', 'alice');
    const approver = await token('alice-approve', 'approver', 'alice');
    const refused = await admin('POST', '/api/v1/tokens', { name: 'alice-admin', role: 'admin', user: 'alice' });
    assert.is(refused.statusCode, 409);
    assert.is(refused.json().code, 'FERRY_USER_ROLE');
    assert.match(refused.json().message, /alice holds operator, approver, not admin/);
    const nobody = await admin('POST', '/api/v1/tokens', { name: 'ghost-token', role: 'viewer', user: 'ghost' });
    assert.is(nobody.statusCode, 404);
    assert.is(nobody.json().code, 'FERRY_USER_NOT_FOUND');

    // An approver token reads as a viewer does, and does nothing an operator does.
    assert.is((await as(approver, 'GET', '/api/v1/devices')).statusCode, 200);
    assert.is((await as(approver, 'POST', '/api/v1/campaigns', {})).statusCode, 403);
    assert.is((await as(viewer, 'GET', '/api/v1/devices')).statusCode, 200);
    assert.is((await as(operator, 'GET', '/api/v1/users')).statusCode, 403);

    const listed = (await admin('GET', '/api/v1/tokens')).json().items as Array<{ name: string; user: string }>;
    assert.equal(listed.filter((t) => t.user === 'alice').map((t) => t.name), ['alice-ops', 'alice-view', 'alice-approve']);
  });

  suite('withdrawing a role refuses the tokens that carry it; disabling the user refuses them all', async () => {
    await admin('POST', '/api/v1/users', { name: 'bob', roles: ['operator', 'approver'] });
    const operator = await token('bob-ops', 'operator', 'bob');
    const viewer = await token('bob-view', 'viewer', 'bob');
    const approver = await token('bob-approve', 'approver', 'bob');
    const set = await admin('PUT', '/api/v1/users/bob/roles', { roles: ['operator'] });
    assert.is(set.statusCode, 200, set.body);
    const gone = await as(approver, 'GET', '/api/v1/devices');
    assert.is(gone.statusCode, 401);
    assert.match(gone.json().message, /user bob no longer holds the approver role/);
    assert.is((await as(operator, 'GET', '/api/v1/devices')).statusCode, 200);
    assert.is((await as(viewer, 'GET', '/api/v1/devices')).statusCode, 200, 'operator covers viewer');

    const disabled = await admin('POST', '/api/v1/users/bob/disable');
    assert.is(disabled.statusCode, 200);
    assert.ok(disabled.json().disabledAt);
    for (const t of [operator, viewer]) {
      const res = await as(t, 'GET', '/api/v1/devices');
      assert.is(res.statusCode, 401);
      assert.match(res.json().message, /user bob is disabled/);
    }
    const more = await admin('POST', '/api/v1/tokens', { name: 'bob-again', role: 'operator', user: 'bob' });
    assert.is(more.json().code, 'FERRY_USER_DISABLED');

    const events = (await admin('GET', '/api/v1/events?kind=user.&limit=100')).json().items as Array<{ kind: string; actor: string; data: Record<string, unknown> }>;
    const bobs = events.filter((e) => e.data['user'] === 'bob');
    assert.equal(bobs.map((e) => e.kind), ['user.created', 'user.roles_changed', 'user.disabled']);
    assert.equal(bobs[1]!.data['withdrawn'], ['approver']);
    assert.ok(bobs.every((e) => e.actor === 'token:FERRY_ADMIN_TOKEN'));
    const tokenEvents = (await admin('GET', '/api/v1/events?kind=token.created&limit=100')).json().items as Array<{ data: { name: string; user: string } }>;
    assert.equal(tokenEvents.filter((e) => e.data.user === 'bob').map((e) => e.data.name), ['bob-ops', 'bob-view', 'bob-approve']);
  });

  suite('an admin cannot lock themselves out', async () => {
    await admin('POST', '/api/v1/users', { name: 'carol', roles: ['admin'] });
    const carol = await token('carol-admin', 'admin', 'carol');
    const self = await as(carol, 'POST', '/api/v1/users/carol/disable');
    assert.is(self.statusCode, 409);
    assert.is(self.json().code, 'FERRY_USER_SELF');
    const demote = await as(carol, 'PUT', '/api/v1/users/carol/roles', { roles: ['viewer'] });
    assert.is(demote.json().code, 'FERRY_USER_SELF');
    assert.is((await as(carol, 'PUT', '/api/v1/users/carol/roles', { roles: ['admin', 'approver'] })).statusCode, 200, 'granting oneself more is audited, not refused');
  });

  suite('bad input: 400 or 404 or 409 with a message, never a user made', async () => {
    const bad: Array<[Method, string, object | undefined, number]> = [
      ['POST', '/api/v1/users', {}, 400], ['POST', '/api/v1/users', { name: 'x' }, 400], ['POST', '/api/v1/users', { name: 'a b', roles: [] }, 400],
      ['POST', '/api/v1/users', { name: 'x', roles: ['root'] }, 400], ['POST', '/api/v1/users', { name: 'x', roles: ['viewer', 'viewer'] }, 400],
      ['POST', '/api/v1/users', { name: 'x'.repeat(65), roles: [] }, 400], ['POST', '/api/v1/users', { name: 'x', roles: [], extra: 1 }, 400],
      ['PUT', '/api/v1/users/nobody/roles', { roles: ['viewer'] }, 404], ['PUT', '/api/v1/users/x%20y/roles', { roles: [] }, 400],
      ['PUT', '/api/v1/users/nobody/roles', { roles: 'viewer' }, 400], ['POST', '/api/v1/users/nobody/disable', undefined, 404],
      ['GET', '/api/v1/users/nobody', undefined, 404], ['GET', '/api/v1/users?x=1', undefined, 400],
    ];
    for (const [method, url, payload, status] of bad) {
      const res = await admin(method, url, payload);
      assert.is(res.statusCode, status, `${method} ${url} ${JSON.stringify(payload)}: ${res.body}`);
      assert.type(res.json().message, 'string');
    }
    await admin('POST', '/api/v1/users', { name: 'dave', roles: ['viewer'] });
    const twice = await admin('POST', '/api/v1/users', { name: 'dave', roles: ['viewer'] });
    assert.is(twice.statusCode, 409);
    assert.is(twice.json().code, 'FERRY_USER_EXISTS');
    const names = ((await admin('GET', '/api/v1/users')).json().items as Array<{ name: string }>).map((u) => u.name);
    assert.ok(!names.includes('x') && names.includes('dave') && names.includes('FERRY_ADMIN_TOKEN'), names.join());
  });
});
