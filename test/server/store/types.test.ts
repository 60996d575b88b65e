/**
 * Type parity: the same SQL gives the same JS types and values on PGlite and on pg.
 * Without DATABASE_URL only the PGlite half (the expected types) runs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testDatabases, type TestDb } from '../../helpers/db.ts';

let dbs: TestDb[] = [];
test.before(async () => {
  dbs = await testDatabases();
});
test.after(async () => {
  await Promise.all(dbs.map((t) => t.close()));
});
test.before.each(async () => {
  for (const t of dbs) await t.reset();
});

const SELECT = `SELECT
  1::int2 AS int2, 2::int4 AS int4, 3::int8 AS int8, 9007199254740993::int8 AS int8_big, -9007199254740991::int8 AS int8_min,
  1.5::float4 AS float4, 2.5::float8 AS float8, 1.25::numeric AS numeric, true AS bool, 'x'::text AS text, 'v'::varchar AS varchar,
  '\\x00ff10'::bytea AS bytea, ''::bytea AS bytea_empty,
  '2024-01-02T03:04:05.678Z'::timestamptz AS timestamptz, '2024-01-02 03:04:05.678'::timestamp AS timestamp,
  '2024-01-02'::date AS date, '1 day 02:03:04'::interval AS interval,
  '{"a":1,"b":[true,null]}'::jsonb AS jsonb, '[1,"x"]'::json AS json,
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS uuid, 5::oid AS oid,
  ARRAY[1,2]::int4[] AS int4_arr, ARRAY[1,NULL,9007199254740993]::int8[] AS int8_arr, ARRAY['a',NULL,'b,"c"']::text[] AS text_arr,
  ARRAY['\\x01'::bytea] AS bytea_arr, ARRAY['2024-01-02'::date] AS date_arr, ARRAY['1 hour'::interval] AS interval_arr,
  ARRAY['2024-01-02T03:04:05Z'::timestamptz] AS timestamptz_arr, ARRAY['{"k":1}'::jsonb] AS jsonb_arr, ARRAY[[1,2],[3,4]]::int8[] AS int8_2d,
  NULL::text AS null_text, NULL::int8 AS null_int8, NULL::bytea AS null_bytea,
  (SELECT count(*) FROM generate_series(1, 3)) AS count, (SELECT sum(g) FROM generate_series(1, 3) g) AS sum_int4,
  now() AS now_`;

/** A value's shape: constructor names all the way down (what "same type" means here). */
function shape(v: unknown): unknown {
  if (v === null) return 'null';
  if (Buffer.isBuffer(v)) return 'Buffer';
  if (Array.isArray(v)) return v.map(shape);
  if (v instanceof Date) return 'Date';
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]));
  return typeof v;
}

const EXPECTED: Record<string, unknown> = {
  int2: 1, int4: 2, int8: 3, int8_big: 9007199254740993n, int8_min: -9007199254740991,
  float4: 1.5, float8: 2.5, numeric: '1.25', bool: true, text: 'x', varchar: 'v',
  bytea: Buffer.from([0, 255, 16]), bytea_empty: Buffer.alloc(0),
  timestamptz: new Date('2024-01-02T03:04:05.678Z'),
  date: '2024-01-02', interval: '1 day 02:03:04',
  jsonb: { a: 1, b: [true, null] }, json: [1, 'x'],
  uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', oid: 5,
  int4_arr: [1, 2], int8_arr: [1, null, 9007199254740993n], text_arr: ['a', null, 'b,"c"'],
  bytea_arr: [Buffer.from([1])], date_arr: ['2024-01-02'], interval_arr: ['01:00:00'],
  timestamptz_arr: [new Date('2024-01-02T03:04:05Z')], jsonb_arr: [{ k: 1 }], int8_2d: [[1, 2], [3, 4]],
  null_text: null, null_int8: null, null_bytea: null,
  count: 3, sum_int4: 6,
};

async function selectRow(t: TestDb): Promise<Record<string, unknown>> {
  const { rows } = await t.db.query(SELECT);
  assert.is(rows.length, 1);
  return rows[0]!;
}

function checkExpected(name: string, row: Record<string, unknown>): void {
  for (const [k, want] of Object.entries(EXPECTED)) {
    const got = row[k];
    if (Buffer.isBuffer(want)) {
      assert.ok(Buffer.isBuffer(got), `${name} ${k}: a Buffer`);
      assert.ok(want.equals(got as Buffer), `${name} ${k}: ${String(got)}`);
    } else {
      assert.equal(got, want, `${name} ${k}`);
    }
  }
  assert.instance(row.timestamp, Date, `${name} timestamp`);
  assert.instance(row.now_, Date, `${name} now()`);
}

test('PGlite and pg give the same JS types and values for the same SQL', async () => {
  const rows = await Promise.all(dbs.map(selectRow));
  dbs.forEach((t, i) => checkExpected(t.name, rows[i]!));
  if (rows.length === 2) {
    const [lite, pg] = rows as [Record<string, unknown>, Record<string, unknown>];
    assert.equal(shape(lite), shape(pg));
    const { now_: _a, ...liteRest } = lite;
    const { now_: _b, ...pgRest } = pg;
    assert.equal(liteRest, pgRest);
  } else {
    console.log('  (DATABASE_URL not set: checked PGlite alone)');
  }
});

test('same types in another process time zone', async () => {
  const saved = process.env.TZ;
  process.env.TZ = 'America/New_York';
  try {
    const rows = await Promise.all(dbs.map(selectRow));
    dbs.forEach((t, i) => checkExpected(t.name, rows[i]!));
    if (rows.length === 2) {
      assert.equal((rows[0]!.timestamp as Date).getTime(), (rows[1]!.timestamp as Date).getTime(), 'timestamp (no tz)');
    }
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

test('parameters round-trip the same way through the real tables', async () => {
  const results = [];
  for (const t of dbs) {
    const { db } = t;
    const payload = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    const device = await db.query<{ id: number; expires_at: Date }>(
      `INSERT INTO devices (endpoint, lifetime, expires_at) VALUES ($1, $2, $3) RETURNING id, expires_at`,
      ['ep-1', 300, new Date('2030-01-01T00:00:00Z')],
    );
    const image = await db.query<{ id: number; payload: Buffer; manifest: Buffer }>(
      `INSERT INTO firmware_images (version, hardware_class, size, sha256, payload, manifest)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, payload, manifest`,
      ['1.0.0', 'hw', payload.length, 'a'.repeat(64), payload, new Uint8Array([1, 2, 3])],
    );
    const update = await db.query<{ id: number; device_id: number }>(
      `INSERT INTO device_updates (device_id, firmware_id) VALUES ($1, $2) RETURNING id, device_id`,
      [device.rows[0]!.id, BigInt(image.rows[0]!.id)],
    );
    // jsonb: pass JSON text (pg would send a JS array as a Postgres array literal).
    const event = await db.query<{ id: number; data: unknown; update_id: number; at: Date }>(
      `INSERT INTO events (kind, device_id, update_id, data) VALUES ($1, $2, $3, $4) RETURNING id, data, update_id, at`,
      ['update.state', device.rows[0]!.id, update.rows[0]!.id, JSON.stringify({ blocks: [1, 2], big: 2 ** 40 })],
    );
    const counted = await db.query<{ n: number; ids: number[] }>(
      `SELECT count(*) AS n, array_agg(id ORDER BY id) AS ids FROM events WHERE device_id = ANY($1::bigint[])`,
      [[device.rows[0]!.id]],
    );
    results.push({ device: device.rows, image: image.rows, update: update.rows, event: event.rows.map(({ at, ...r }) => ({ ...r, at: shape(at) })), counted: counted.rows });
  }
  for (const r of results) {
    assert.equal(r.device, [{ id: 1, expires_at: new Date('2030-01-01T00:00:00Z') }]);
    assert.ok(Buffer.isBuffer(r.image[0]!.payload) && r.image[0]!.payload.equals(Buffer.from([0xde, 0xad, 0xbe, 0xef])));
    assert.ok(Buffer.isBuffer(r.image[0]!.manifest) && r.image[0]!.manifest.equals(Buffer.from([1, 2, 3])));
    assert.equal(r.update, [{ id: 1, device_id: 1 }]);
    assert.equal(r.event, [{ id: 1, data: { blocks: [1, 2], big: 2 ** 40 }, update_id: 1, at: 'Date' }]);
    assert.equal(r.counted, [{ n: 1, ids: [1] }]);
  }
  if (results.length === 2) assert.equal(results[0], results[1]);
});

test.run();
