// /docs/json: a well-formed OpenAPI 3 document generated from the route schemas, listing every
// /api/v1 route with the bearer scheme; /docs serves the UI; both open without a token.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { injectRaw, startTestFerry } from '../../helpers/ferry.ts';

interface Operation { parameters?: Array<{ name: string; in: string; required?: boolean; schema?: unknown }>; responses?: Record<string, unknown>; security?: Array<Record<string, unknown>>; requestBody?: unknown }
interface Document { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, { type: string; scheme?: string }> } }

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** Fastify's /a/:b/* as OpenAPI's /a/{b}/{path}. */
const openapiPath = (url: string): string => url.replace(/\*$/, '{path}').replace(/:([A-Za-z_]+)/g, '{$1}');

/** The rules of OpenAPI 3.x that a generated document can break; each broken one is a message. */
function problems(doc: Document): string[] {
  const out: string[] = [];
  if (!/^3\.\d+\.\d+$/.test(doc.openapi)) out.push(`openapi is ${doc.openapi}`);
  if (typeof doc.info?.title !== 'string' || typeof doc.info?.version !== 'string') out.push('info needs title and version');
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    if (!path.startsWith('/')) out.push(`${path}: a path starts with /`);
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.includes(method)) { out.push(`${path}: ${method} is not an HTTP method`); continue; }
      if (!op.responses || Object.keys(op.responses).length === 0) out.push(`${method} ${path}: no responses`);
      for (const k of Object.keys(op.responses ?? {})) if (!/^([1-5]\d\d|[1-5]XX|default)$/.test(k)) out.push(`${method} ${path}: response key ${k}`);
      const inPath = (op.parameters ?? []).filter((p) => p.in === 'path');
      for (const name of templated) {
        const p = inPath.find((q) => q.name === name);
        if (!p) out.push(`${method} ${path}: {${name}} is not declared`);
        else if (p.required !== true) out.push(`${method} ${path}: path parameter ${name} must be required`);
      }
      for (const p of inPath) if (!templated.includes(p.name)) out.push(`${method} ${path}: path parameter ${p.name} is not in the path`);
      for (const p of op.parameters ?? []) if (!['query', 'header', 'path', 'cookie'].includes(p.in)) out.push(`${method} ${path}: parameter in ${p.in}`);
      for (const req of op.security ?? []) for (const name of Object.keys(req)) if (!doc.components?.securitySchemes?.[name]) out.push(`${method} ${path}: unknown security scheme ${name}`);
    }
  }
  return out;
}

forEachDatabase('api, OpenAPI', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db); });
  suite.after(async () => { await ferry.close(); });

  suite('/docs/json is OpenAPI 3 and lists every /api/v1 route, each with the bearer scheme and its role', async () => {
    const res = await injectRaw(ferry, { method: 'GET', url: '/docs/json' });
    assert.is(res.statusCode, 200, 'open without a token');
    const doc = res.json() as Document;
    assert.equal(problems(doc), []);
    const scheme = doc.components.securitySchemes['bearer'];
    assert.is(scheme?.type, 'http');
    assert.is(scheme?.scheme, 'bearer');
    const missing: string[] = [];
    for (const r of ferry.api.apiRoutes.filter((x) => x.method !== 'HEAD')) {
      const op = doc.paths[openapiPath(r.url)]?.[r.method.toLowerCase()];
      if (!op) { missing.push(`${r.method} ${r.url}`); continue; }
      if (JSON.stringify(op.security) !== '[{"bearer":[]}]') missing.push(`${r.method} ${r.url}: no bearer security`);
      if (!String((op as { description?: string }).description).includes(`Needs the ${r.role} role`)) missing.push(`${r.method} ${r.url}: role not said`);
    }
    assert.equal(missing, []);
    assert.is(doc.paths['/healthz']?.['get']?.security, undefined, '/healthz needs no token');
  });

  suite('/docs serves the UI without a token', async () => {
    const res = await injectRaw(ferry, { method: 'GET', url: '/docs/' });
    assert.is(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /text\/html/);
    const root = await injectRaw(ferry, { method: 'GET', url: '/docs' });
    assert.ok([200, 302].includes(root.statusCode), String(root.statusCode));
  });

  suite('the checker itself: it catches an undeclared path parameter and a bad version', () => {
    const bad = { openapi: '2.0', info: { title: 't', version: '1' }, components: { securitySchemes: {} }, paths: { '/a/{id}': { get: { responses: { 200: {} }, security: [{ nope: [] }] } } } };
    assert.equal(problems(bad as unknown as Document).length, 3);
  });
});
