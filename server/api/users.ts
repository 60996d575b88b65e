/**
 * /api/v1/users (admin): the named users API tokens belong to. A user holds roles; granting and
 * withdrawing them, creating and disabling users are audit events. A disabled user's tokens are
 * refused at once; a withdrawn role's tokens too (a level still held covers the ones below it).
 */
import type { FastifyInstance } from 'fastify';
import type { Db } from '../store/db.ts';
import { createUser, disableUser, getUser, listUsers, mayCarry, setUserRoles, USER_ROLES, type UserRole } from '../store/users.ts';
import { actorOf } from './auth.ts';
import { HttpError } from './errors.ts';
import { dateTime, errorBody, nullableDateTime } from './schemas.ts';

const userName = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' } as const;
const roles = {
  type: 'array', items: { type: 'string', enum: USER_ROLES }, maxItems: USER_ROLES.length, uniqueItems: true,
  description: 'viewer < operator < admin (each includes those below); approver stands apart: it approves releases, never its own user\'s uploads',
} as const;
const nameParams = { type: 'object', required: ['name'], additionalProperties: false, properties: { name: userName } } as const;

export const userBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, name: { type: 'string' }, roles: { type: 'array', items: { type: 'string', enum: USER_ROLES } },
    createdAt: dateTime, createdBy: { type: 'string' }, disabledAt: nullableDateTime,
  },
} as const;

export function userRoutes(app: FastifyInstance, deps: { db: Db }): void {
  const { db } = deps;

  app.get('/api/v1/users', {
    schema: { summary: 'List users and their roles', querystring: { type: 'object', additionalProperties: false }, response: { 200: { type: 'object', properties: { items: { type: 'array', items: userBody }, next: { type: 'null' } } }, '4xx': errorBody } },
  }, async () => ({ items: await listUsers(db), next: null }));

  app.get<{ Params: { name: string } }>('/api/v1/users/:name', {
    schema: { summary: 'One user', params: nameParams, response: { 200: userBody, '4xx': errorBody } },
  }, async (req) => {
    const user = await getUser(db, req.params.name);
    if (!user) throw new HttpError('FERRY_USER_NOT_FOUND', `no user ${req.params.name}`);
    return user;
  });

  app.post<{ Body: { name: string; roles: UserRole[] } }>('/api/v1/users', {
    schema: {
      summary: 'Create a user holding roles; its tokens are made with POST /api/v1/tokens {user}',
      body: { type: 'object', required: ['name', 'roles'], additionalProperties: false, properties: { name: userName, roles } },
      response: { 201: userBody, '4xx': errorBody },
    },
  }, async (req, reply) => {
    const user = await db.transaction((tx) => createUser(tx, { name: req.body.name, roles: req.body.roles, actor: actorOf(req) }));
    req.log.info({ user: user.name, roles: user.roles, by: actorOf(req) }, 'user created');
    return reply.code(201).send(user);
  });

  app.put<{ Params: { name: string }; Body: { roles: UserRole[] } }>('/api/v1/users/:name/roles', {
    schema: {
      summary: 'Set the roles a user holds (grants and withdrawals are audited); tokens with a withdrawn role are refused',
      params: nameParams,
      body: { type: 'object', required: ['roles'], additionalProperties: false, properties: { roles } },
      response: { 200: userBody, '4xx': errorBody },
    },
  }, async (req) => {
    if (req.token?.user === req.params.name && !mayCarry(req.body.roles, req.token.role)) {
      throw new HttpError('FERRY_USER_SELF', `this would withdraw ${req.token.role} from ${req.params.name}, whose token this request uses: ask another admin`);
    }
    const user = await db.transaction((tx) => setUserRoles(tx, req.params.name, req.body.roles, actorOf(req)));
    req.log.info({ user: user.name, roles: user.roles, by: actorOf(req) }, 'user roles set');
    return user;
  });

  app.post<{ Params: { name: string } }>('/api/v1/users/:name/disable', {
    schema: { summary: 'Disable a user: every token of theirs is refused from now on', params: nameParams, response: { 200: userBody, '4xx': errorBody } },
  }, async (req) => {
    if (req.token?.user === req.params.name) throw new HttpError('FERRY_USER_SELF', 'a user cannot disable themselves (it would lock out the token this request uses): ask another admin');
    const user = await db.transaction((tx) => disableUser(tx, req.params.name, actorOf(req)));
    req.log.info({ user: user.name, by: actorOf(req) }, 'user disabled');
    return user;
  });
}
