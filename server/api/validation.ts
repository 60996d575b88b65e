/**
 * Request validation: one Ajv per part of the request. A JSON body is taken as sent — never
 * coerced, so `{"firmwareId":true}` or `[1]` is refused, not read as 1 — while the querystring,
 * the path parameters and the headers are text by nature and coerce ("42" → 42). Unknown fields
 * are refused, not silently dropped.
 *
 * An integer in a text part is digits only (strictIntegers below): Ajv's coercion alone reads
 * JavaScript's Number(), so '+1', ' 1', '1.0', '0x10' and '1e3' were ids and '1e309' was Infinity,
 * which minimum/maximum let through (Ajv checks bounds on finite numbers only).
 */
import { Ajv, type ErrorObject, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance, FastifySchema, FastifySchemaValidationError } from 'fastify';

// Fastify's own defaults, but for coercion and removeAdditional.
const common: Options = { removeAdditional: false, useDefaults: true, allErrors: false, addUsedSchema: false };

/** The keyword strictIntegers puts before each integer of a text part: its bounds, as the integer's schema gives them. */
const INTEGER_TEXT = 'integerText';
interface Bounds { minimum?: number; maximum?: number; exclusiveMinimum?: number; exclusiveMaximum?: number }
/** An Ajv function keyword's check: false with its errors. */
type Check = ((data: unknown) => boolean) & { errors?: Partial<ErrorObject>[] };

/** Digits only: no sign, exponent, decimal point, spaces, hex, or non-ASCII digits. */
const DIGITS = /^[0-9]+$/;

/**
 * The check on the text itself, before coercion: digits, and a value within the schema's bounds
 * and exact as a JavaScript number (at most 2^53 − 1), compared as a BigInt so no digit is lost.
 * Anything but a string (or a list of one, which coercion unwraps) is left to the type check.
 */
function integerText(bounds: Bounds): Check {
  const lo = BigInt(Math.max(0, Math.ceil(bounds.minimum ?? 0), bounds.exclusiveMinimum === undefined ? 0 : Math.floor(bounds.exclusiveMinimum) + 1));
  const hi = BigInt(Math.min(Number.MAX_SAFE_INTEGER, Math.floor(bounds.maximum ?? Infinity), bounds.exclusiveMaximum === undefined ? Infinity : Math.ceil(bounds.exclusiveMaximum) - 1));
  const message = `must be an integer from ${lo} to ${hi}, in digits only (no sign, exponent, decimal point or spaces)`;
  const check: Check = (data: unknown) => {
    const text = Array.isArray(data) && data.length === 1 ? data[0] : data;
    if (typeof text !== 'string') return true;
    if (DIGITS.test(text) && BigInt(text) >= lo && BigInt(text) <= hi) return true;
    check.errors = [{ keyword: INTEGER_TEXT, message, params: { minimum: Number(lo), maximum: Number(hi) } }];
    return false;
  };
  return check;
}

/** Keywords whose value is a schema, a list of schemas, or a map of names to schemas (JSON Schema 2020-12). */
const ONE = ['items', 'additionalItems', 'additionalProperties', 'contains', 'propertyNames', 'not', 'if', 'then', 'else', 'unevaluatedItems', 'unevaluatedProperties'];
const LIST = ['allOf', 'anyOf', 'oneOf', 'prefixItems', 'items'];
const MAP = ['properties', 'patternProperties', 'dependentSchemas', '$defs', 'definitions'];

const isIntegerSchema = (s: Record<string, unknown>): boolean => {
  const types = [s['type']].flat();
  return types.includes('integer') && !types.includes('string');
};

/**
 * A copy of a text part's schema in which every integer (however deep: a property, a list's
 * items) is checked as text first: `{ allOf: [{ integerText: bounds }, integer] }`. The integer
 * schema itself is unchanged, so the OpenAPI document still says what the route takes.
 */
export function strictIntegers(schema: unknown): unknown {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return schema;
  const s = { ...(schema as Record<string, unknown>) };
  for (const k of ONE) if (k in s && !Array.isArray(s[k])) s[k] = strictIntegers(s[k]);
  for (const k of LIST) if (Array.isArray(s[k])) s[k] = (s[k] as unknown[]).map(strictIntegers);
  for (const k of MAP) {
    const m = s[k];
    if (m !== null && typeof m === 'object') s[k] = Object.fromEntries(Object.entries(m).map(([name, sub]) => [name, strictIntegers(sub)]));
  }
  if (!isIntegerSchema(s)) return s;
  const bounds: Bounds = {};
  for (const b of ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'] as const) if (typeof s[b] === 'number') bounds[b] = s[b];
  // A default is applied only where it stands directly under properties or items, so it stays outside the allOf.
  const { default: dflt, ...integer } = s;
  return { ...(dflt === undefined ? {} : { default: dflt }), allOf: [{ [INTEGER_TEXT]: bounds }, integer] };
}

/**
 * Fastify's message (`querystring/limit must be …`), but an unknown property is named: `?limit[a]=1`
 * is refused with `querystring must NOT have additional properties: "limit[a]"`; and a value not
 * in an enum is told the allowed ones: `body/role must be equal to one of the allowed values: viewer, operator, admin`.
 */
export function formatSchemaErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  return new Error(errors.map((e) => {
    const unknown = e.keyword === 'additionalProperties' ? (e.params as { additionalProperty?: unknown }).additionalProperty : undefined;
    const allowed = e.keyword === 'enum' ? (e.params as { allowedValues?: unknown }).allowedValues : undefined;
    const detail = typeof unknown === 'string' ? `: ${JSON.stringify(unknown.slice(0, 64))}`
      : Array.isArray(allowed) ? `: ${allowed.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}` : '';
    return `${dataVar}${e.instancePath} ${e.message ?? 'is not valid'}${detail}`;
  }).join(', '));
}

export function installValidation(app: FastifyInstance): void {
  const make = (coerceTypes: Options['coerceTypes']): Ajv => {
    const ajv = new Ajv({ ...common, coerceTypes });
    addFormats.default(ajv);
    return ajv;
  };
  const body = make(false);
  // Text parts: '5' may be a number, and one ?state=a a list of one (repeated ?state=a&state=b is a list already).
  const text = make('array');
  text.addKeyword({ keyword: INTEGER_TEXT, schemaType: 'object', compile: integerText });
  app.setSchemaErrorFormatter(formatSchemaErrors);
  app.setValidatorCompiler<FastifySchema>(({ schema, httpPart }) => (httpPart === 'body' ? body.compile(schema) : text.compile(strictIntegers(schema) as object)));
}


/** A route that declares no querystring takes none: an unknown query is a 400, not ignored. Call before adding routes. */
export function refuseUndeclaredQueries(app: FastifyInstance, prefix: string): void {
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith(prefix)) return;
    route.schema = { ...route.schema };
    route.schema.querystring ??= { type: 'object', additionalProperties: false };
  });
}
