/**
 * Text-format value parsers shared by both drivers, so the same SQL gives the same JS types:
 *   int8 (bigserial ids, count(*))  → number, or bigint past Number.MAX_SAFE_INTEGER
 *   bytea                           → Node Buffer
 *   date                            → 'YYYY-MM-DD' string (a Date would depend on the process time zone)
 *   interval                        → Postgres text ('1 day 02:00:00')
 * and arrays of these element-wise. timestamptz → Date, jsonb/json → parsed value, int2/int4/
 * float → number, numeric → string are what both drivers already do.
 */

export const OID = {
  bytea: 17,
  int8: 20,
  date: 1082,
  interval: 1186,
  byteaArray: 1001,
  int8Array: 1016,
  dateArray: 1182,
  intervalArray: 1187,
} as const;

export function parseInt8(text: string): number | bigint {
  const n = BigInt(text);
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

/** bytea in Postgres' default hex output (`\x0102`); the legacy escape format is not supported. */
export function parseBytea(text: string): Buffer {
  if (!text.startsWith('\\x')) {
    throw new Error("bytea value is not in hex format; set bytea_output = 'hex'");
  }
  return Buffer.from(text.slice(2), 'hex');
}

export function parseText(text: string): string {
  return text;
}

/** Element parsers by element type oid, for PGlite (which derives its array parsers from them). */
export const pgliteParsers: Record<number, (text: string) => unknown> = {
  [OID.int8]: parseInt8,
  [OID.bytea]: parseBytea,
  [OID.date]: parseText,
  [OID.interval]: parseText,
};

/** Applies `fn` to every non-null leaf of a (possibly nested) array. */
export function mapArray(value: unknown, fn: (text: string) => unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => mapArray(v, fn));
  return value === null ? null : fn(value as string);
}
