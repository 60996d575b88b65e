/**
 * /healthz (liveness: the process answers and its database does) and /readyz (readiness: the
 * database answers SELECT 1 and every CoAP socket is bound), for load balancers and orchestrators.
 * /readyz says too whether the server signs raw uploads itself (serverSigning, --signing-key).
 */
import type { FastifyInstance } from 'fastify';
import type { ApprovalMode } from '../governance/release-rules.ts';
import type { Db } from '../store/db.ts';

/** A socket that throws from address() once it is closed (dgram's ERR_SOCKET_DGRAM_NOT_RUNNING). */
export interface BoundSocket { address(): { address: string; port: number } }

/** How long /healthz and /readyz wait for SELECT 1. */
const DB_TIMEOUT_MS = 2000;

const status = { type: 'string', enum: ['ok', 'ready', 'unavailable'] } as const;
const checks = { type: 'object', additionalProperties: { type: 'string' } } as const;
const health = { type: 'object', required: ['status'], properties: { status, message: { type: 'string' } } } as const;
const readiness = {
  type: 'object', required: ['status', 'checks'],
  properties: {
    status, message: { type: 'string' }, checks,
    serverSigning: { type: 'boolean', description: 'true: this server signs raw image uploads itself (--signing-key), a mode for labs and demos' },
    releaseApproval: { type: 'string', enum: ['required', 'off'], description: 'off: images not approved reach every device (--release-approval off, a lab)' },
  },
} as const;

/** Undefined when the database answers SELECT 1 in time, else why not. */
async function databaseProblem(db: Db): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      db.query('SELECT 1'),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer in ${DB_TIMEOUT_MS} ms`)), DB_TIMEOUT_MS); }),
    ]);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(app: FastifyInstance, deps: { db: Db; sockets: Record<string, BoundSocket | undefined>; serverSigning?: boolean; releaseApproval?: ApprovalMode | undefined }): void {
  const serverSigning = deps.serverSigning ?? false;
  app.get('/healthz', { schema: { summary: 'Liveness: the process answers and its database does', response: { 200: health, 503: health } } }, async (_req, reply) => {
    const problem = await databaseProblem(deps.db);
    if (problem === undefined) return { status: 'ok' };
    return reply.code(503).send({ status: 'unavailable', message: 'database unreachable' });
  });

  app.get('/readyz', { schema: { summary: 'Readiness: the database answers and every CoAP socket is bound', response: { 200: readiness, 503: readiness } } }, async (_req, reply) => {
    const result: Record<string, string> = {};
    const problems: string[] = [];
    const db = await databaseProblem(deps.db);
    result['database'] = db === undefined ? 'ok' : `unavailable: ${db}`;
    if (db !== undefined) problems.push(`the database did not answer SELECT 1 (${db})`);
    for (const [name, socket] of Object.entries(deps.sockets)) {
      if (socket === undefined) continue;
      try {
        const a = socket.address();
        result[name] = `bound ${a.address}:${a.port}`;
      } catch {
        result[name] = 'not bound';
        problems.push(`the ${name} socket is not bound`);
      }
    }
    const modes = { serverSigning, releaseApproval: deps.releaseApproval ?? 'required' };
    if (problems.length === 0) return { status: 'ready', checks: result, ...modes };
    return reply.code(503).send({ status: 'unavailable', message: problems.join('; '), checks: result, ...modes });
  });
}
