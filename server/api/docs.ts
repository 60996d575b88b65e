/**
 * The OpenAPI 3.1 document, generated from the route schemas (@fastify/swagger), and its UI at
 * /docs (@fastify/swagger-ui; the JSON at /docs/json). Routes under /api/v1 carry the bearer
 * scheme and say which role they need (in the description, and as `x-ferry-role`, from roles.ts).
 * 3.1, because the schemas use `type: [..., 'null']`.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { API_PREFIX } from './auth.ts';
import { optionalBody } from './body.ts';
import { roleOf } from './roles.ts';

/** The parts of a request whose schema's properties are its parameters in the document. */
const PARAMETER_PARTS = ['querystring', 'params', 'headers'] as const;

/**
 * @fastify/swagger lists the properties of a querystring, params or headers schema as its
 * parameters, and when there are none, the schema's own keywords: `{ type: 'object',
 * additionalProperties: false }` (a route that takes no query) became parameters named "type"
 * and "additionalProperties". An empty `properties` lists none.
 */
function withProperties(schema: FastifySchema): FastifySchema {
  if (!schema) return schema; // a route without one
  const out: Record<string, unknown> = { ...schema };
  for (const part of PARAMETER_PARTS) {
    const s = out[part] as Record<string, unknown> | undefined;
    if (s !== undefined && s['properties'] === undefined && s['$ref'] === undefined && !s['oneOf'] && !s['anyOf'] && !s['allOf']) out[part] = { ...s, properties: {} };
  }
  return out as FastifySchema;
}

/** The tag an operation is listed under, by its path, where its route names none. */
export function tagOf(url: string): string {
  if (!url.startsWith(`${API_PREFIX}/`)) return url === '/metrics' ? 'metrics' : 'health';
  const [first, , third] = url.slice(API_PREFIX.length + 1).split('/');
  if (first === 'devices' && third === 'credentials') return 'credentials';
  if (first === 'events' || first === 'audit') return 'audit';
  if (first === 'vulnerabilities') return 'compliance';
  return first ?? 'api';
}

/** `notices`: sentences about how this server runs, added to the document's description (e.g. that it signs raw uploads). */
export async function installDocs(app: FastifyInstance, version: string, notices: readonly string[] = []): Promise<void> {
  const description = ['LwM2M firmware updates: devices, firmware images, updates, device management, tokens, the audit log.',
    ...notices.map((n) => `${n[0]!.toUpperCase()}${n.slice(1)}.`)].join('\n\n');
  /** Operations (`post /api/v1/campaigns/{id}/start`) that take no body as well as one: their requestBody is not required. */
  const optionalBodies = new Set<string>();
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Ferry admin API', version, description },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a Ferry API token (fry_…); roles viewer < operator < admin' } } },
    },
    transform: ({ schema: declared, url, route }) => {
      const schema = { ...withProperties(declared), tags: (declared as { tags?: string[] } | undefined)?.tags ?? [tagOf(url)] } as FastifySchema;
      const body = (declared as { body?: { type?: unknown } } | undefined)?.body;
      if (body !== undefined && ([route.preValidation].flat().includes(optionalBody) || [body.type].flat().includes('null'))) {
        for (const m of [route.method].flat()) optionalBodies.add(`${m.toLowerCase()} ${url.replace(/\*$/, ':path').replace(/:([A-Za-z_]+)/g, '{$1}')}`);
      }
      if (url !== API_PREFIX && !url.startsWith(`${API_PREFIX}/`)) return { schema, url };
      const role = roleOf([route.method].flat()[0]!, url);
      const described: Record<string, unknown> = {
        ...schema, security: [{ bearer: [] }],
        ...(role ? { description: `${schema?.description ? `${schema.description as string} ` : ''}Needs the ${role} role.`, 'x-ferry-role': role } : {}),
      };
      if (!url.endsWith('/*')) return { schema: described, url };
      // A wildcard (the LwM2M path) is a parameter named "path" in the document, e.g. 3/0/9.
      const params = described['params'] as { properties: Record<string, unknown>; required?: string[] } | undefined;
      if (params) {
        const { '*': wildcard, ...rest } = params.properties;
        described['params'] = { ...params, properties: { ...rest, path: { ...(wildcard as object), description: 'an LwM2M path, e.g. 3/0/9' } }, required: (params.required ?? []).map((r) => (r === '*' ? 'path' : r)) };
      }
      return { schema: described, url: `${url.slice(0, -1)}:path` };
    },
    transformObject: (document) => {
      const openapiObject = 'openapiObject' in document ? document.openapiObject : document.swaggerObject;
      const paths = (openapiObject as { paths?: Record<string, Record<string, { requestBody?: { required?: boolean; description?: string } } & Record<string, unknown>>> }).paths ?? {};
      for (const [path, item] of Object.entries(paths)) {
        for (const [method, op] of Object.entries(item)) {
          if (op.requestBody && optionalBodies.has(`${method} ${path}`)) op.requestBody = { ...op.requestBody, required: false, description: 'optional: no body, an empty one, and {} are the same' };
        }
      }
      // The upload's body is the package or image itself, parsed by its own content-type parser (firmware.ts), not a JSON schema.
      const upload = paths[`${API_PREFIX}/firmware`]?.['post'];
      if (upload) {
        upload.requestBody = {
          required: true, description: 'the signed package (FRY1) or, on a server with --signing-key, the raw image; at most --max-upload-mb',
          content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
        } as never;
      }
      return openapiObject;
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
