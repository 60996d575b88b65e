/**
 * Testbeds: an operator marks devices (a device never declares itself one), and an admin sets each
 * hardware class's testbed policy, the evidence an approval needs. Both are audited.
 */
import type { FastifyInstance } from 'fastify';
import { DeviceNotFoundError } from '../errors.ts';
import type { TestbedPolicy } from '../governance/evidence.ts';
import type { Db } from '../store/db.ts';
import { getPolicy, setPolicy, setTestbed } from '../store/testbed.ts';
import { actorOf } from './auth.ts';
import { endpointParams, errorBody, label, policyBody } from './schemas.ts';

const classParams = { type: 'object', required: ['hardwareClass'], additionalProperties: false, properties: { hardwareClass: label } } as const;

export function testbedRoutes(app: FastifyInstance, deps: { db: Db }): void {
  app.put<{ Params: { endpoint: string }; Body: { testbed: boolean } }>('/api/v1/devices/:endpoint/testbed', {
    schema: {
      summary: 'Mark a device a testbed (or not): testbed campaigns update only these, and their outcomes are a release\'s evidence',
      params: endpointParams,
      body: { type: 'object', required: ['testbed'], additionalProperties: false, properties: { testbed: { type: 'boolean' } } },
      response: { 200: { type: 'object', properties: { endpoint: { type: 'string' }, testbed: { type: 'boolean' } } }, '4xx': errorBody },
    },
  }, async (req) => {
    const done = await setTestbed(deps.db, req.params.endpoint, req.body.testbed, { actor: actorOf(req), user: req.token?.user });
    if (!done) throw new DeviceNotFoundError(`no device ${req.params.endpoint}`);
    return done;
  });

  app.get<{ Params: { hardwareClass: string } }>('/api/v1/testbed-policies/:hardwareClass', {
    schema: {
      summary: 'The testbed evidence a release of this hardware class needs (the defaults when none was set: stored false)',
      params: classParams, response: { 200: { ...policyBody, properties: { ...policyBody.properties, stored: { type: 'boolean' } } }, '4xx': errorBody },
    },
  }, async (req) => getPolicy(deps.db, req.params.hardwareClass));

  app.put<{ Params: { hardwareClass: string }; Body: Partial<Omit<TestbedPolicy, 'hardwareClass'>> }>('/api/v1/testbed-policies/:hardwareClass', {
    schema: {
      summary: 'Set the testbed evidence a release of this hardware class needs; what is not given keeps its value',
      params: classParams,
      body: {
        type: 'object', additionalProperties: false, minProperties: 1,
        properties: {
          minDevices: { type: 'integer', minimum: 1, maximum: 100_000, description: 'testbed devices of the class a completed testbed campaign must have updated (default 1)' },
          soakSeconds: { type: 'integer', minimum: 0, maximum: 30 * 86400, description: 'how long after the last update finished the devices must stay healthy (default 3600)' },
          minSuccessRate: { type: 'number', minimum: 0, maximum: 1, description: 'succeeded / attempted, at least (default 1: every one)' },
          requireCredentials: { type: 'boolean', description: 'count only devices on DTLS with a pre-shared key (default false)' },
        },
      },
      response: { 200: policyBody, '4xx': errorBody },
    },
  }, async (req) => setPolicy(deps.db, req.params.hardwareClass, req.body, { actor: actorOf(req), user: req.token?.user }));
}
