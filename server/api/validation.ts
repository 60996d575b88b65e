/**
 * Request validation: one Ajv per part of the request. A JSON body is taken as sent — never
 * coerced, so `{"firmwareId":true}` or `[1]` is refused, not read as 1 — while the querystring,
 * the path parameters and the headers are text by nature and coerce ("42" → 42). Unknown fields
 * are refused, not silently dropped.
 */
import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance, FastifySchema } from 'fastify';

// Fastify's own defaults, but for coercion and removeAdditional.
const common: Options = { removeAdditional: false, useDefaults: true, allErrors: false, addUsedSchema: false };

export function installValidation(app: FastifyInstance): void {
  const make = (coerceTypes: Options['coerceTypes']): Ajv => {
    const ajv = new Ajv({ ...common, coerceTypes });
    addFormats.default(ajv);
    return ajv;
  };
  const body = make(false);
  // Text parts: '5' may be a number, and one ?state=a a list of one (repeated ?state=a&state=b is a list already).
  const text = make('array');
  app.setValidatorCompiler<FastifySchema>(({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema));
}

/** A route that declares no querystring takes none: an unknown query is a 400, not ignored. Call before adding routes. */
export function refuseUndeclaredQueries(app: FastifyInstance, prefix: string): void {
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith(prefix)) return;
    route.schema = { ...route.schema };
    route.schema.querystring ??= { type: 'object', additionalProperties: false };
  });
}
