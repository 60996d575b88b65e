// The error catalogue: every code has one HTTP status (its CoAP code's counterpart where it has
// one), the README lists them as generated, every error class names itself and carries a
// catalogued code, and the API's refusals (404, 409, 400 from validation, 401, …) carry their code.
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { errorCodeTable, README, TABLE_END, TABLE_START } from '../../server/api/error-table.ts';
import { HTTP_STATUS } from '../../server/api/error-status.ts';
import { HttpError } from '../../server/api/errors.ts';
import { coapRefusal } from '../../server/coap/refusal.ts';
import { FERRY_CODES, FERRY_ERRORS, errorEntry } from '../../server/error-codes.ts';
import {
  Block1Refused, CampaignError, CoapRefusalError, CommandUsageError, ConfigError, DataDirLockedError, DeviceNotFoundError, DmError, RevertError,
  DuplicateTokenNameError, DuplicateVersionError, FerryError, FirmwareInUseError, FirmwareNotFoundError, HardwareClassMismatchError,
  KeyFileError, MigrationError, UpdateInProgressError, UploadError,
} from '../../server/errors.ts';
import type { Ferry } from '../../server/main.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { injectRaw, startTestFerry } from '../helpers/ferry.ts';
import { suite as uvuSuite } from 'uvu';

/** The HTTP status of a CoAP response code: the same number, but 4.02 Bad Option and 4.08 Request Entity Incomplete are 400. */
const httpOfCoap = (coap: string): number => ({ '4.02': 400, '4.08': 400 } as Record<string, number>)[coap] ?? Number(coap.replace('.', ''));

const catalogue = uvuSuite('error catalogue');

catalogue('every code is FERRY_ and upper-case words, and has one HTTP status, a 4xx or a 5xx', () => {
  assert.ok(FERRY_CODES.length >= 40, `${FERRY_CODES.length} codes`);
  for (const code of FERRY_CODES) {
    assert.match(code, /^FERRY_[A-Z0-9]+(_[A-Z0-9]+)*$/);
    const status = HTTP_STATUS[code];
    assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: ${status}`);
    assert.ok(errorEntry(code).meaning.length > 0, `${code}: a meaning`);
  }
  assert.equal(Object.keys(HTTP_STATUS).sort(), [...FERRY_CODES].sort(), 'the status table has every code and no other');
});

catalogue('a code that CoAP answers carry has its response code\'s HTTP counterpart; the diagnostic is CODE: message', () => {
  const coap = FERRY_CODES.filter((c) => errorEntry(c).coap !== undefined);
  assert.ok(coap.length >= 15, `${coap.length} CoAP codes`);
  for (const code of coap) assert.is(HTTP_STATUS[code], httpOfCoap(errorEntry(code).coap!), code);
  assert.equal(coapRefusal('FERRY_RD_PAYLOAD_TOO_LARGE', 'registration payload over 8192 bytes'),
    { code: '4.13', diagnostic: 'FERRY_RD_PAYLOAD_TOO_LARGE: registration payload over 8192 bytes' });
  assert.is(coapRefusal('FERRY_INTERNAL', 'internal error').code, '5.00');
});

catalogue('the README\'s table of error codes is the generated one, and names every code', () => {
  const readme = readFileSync(README, 'utf8');
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  assert.ok(start >= 0 && end > start, 'the README has the markers');
  assert.fixture(readme.slice(start + TABLE_START.length, end).trim(), errorCodeTable(), 'run npm run docs:errors');
  for (const code of FERRY_CODES) assert.ok(readme.includes(`| \`${code}\` | ${HTTP_STATUS[code]} |`), code);
});

catalogue('every error class names itself and carries a code of the catalogue', () => {
  const errors: Array<[{ name: string }, FerryError]> = [
    [DeviceNotFoundError, new DeviceNotFoundError('no device x')],
    [FirmwareNotFoundError, new FirmwareNotFoundError('no firmware image 1')],
    [HardwareClassMismatchError, new HardwareClassMismatchError('another class')],
    [DuplicateVersionError, new DuplicateVersionError('c', '1.0')],
    [FirmwareInUseError, new FirmwareInUseError(1, ['1 update in flight'])],
    [UpdateInProgressError, new UpdateInProgressError(7)],
    [DuplicateTokenNameError, new DuplicateTokenNameError('ci')],
    [UploadError, new UploadError('FERRY_UPLOAD_EMPTY', 'the image is empty')],
    [CampaignError, new CampaignError('FERRY_CAMPAIGN_STATE', 'campaign 1 is running')],
    [RevertError, new RevertError('FERRY_REVERT_NOTHING', 'no device to revert')],
    [CoapRefusalError, new CoapRefusalError('FERRY_RD_LIFETIME', 'lt=9 is above 8')],
    [DmError, new DmError('timeout', 'no response in 5 ms')],
    [Block1Refused, new Block1Refused('4.13', 'too large')],
    [ConfigError, new ConfigError('--x must be …')],
    [CommandUsageError, new CommandUsageError('--out is required')],
    [KeyFileError, new KeyFileError('cannot read public key k.pub')],
    [MigrationError, new MigrationError('migration 0001 failed')],
    [DataDirLockedError, new DataDirLockedError('in use', { dir: '/d', lockFile: '/d.lock', reason: 'in-use', holder: undefined })],
    [HttpError, new HttpError('FERRY_FORBIDDEN', 'this needs the admin role')],
  ];
  const names = new Set<string>();
  for (const [cls, err] of errors) {
    assert.is(err.name, cls.name);
    assert.ok(err instanceof FerryError && err instanceof Error, cls.name);
    assert.ok(Object.hasOwn(FERRY_ERRORS, err.code), `${cls.name}: ${err.code}`);
    names.add(err.name);
  }
  assert.is(names.size, errors.length, 'one name each');
  // DmError keeps its kind; its code follows from it.
  assert.equal([new DmError('response', 'x', '4.04').code, new DmError('transport', 'x').code, new DmError('cancelled', 'x').code],
    ['FERRY_DM_REFUSED', 'FERRY_DM_TRANSPORT', 'FERRY_DM_CANCELLED']);
});

catalogue.run();

forEachDatabase('error codes in API answers', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db, { maxUploadMb: 1 }); });
  suite.after(async () => { await ferry.close(); });

  const upload = (version: string, body: Buffer) => ferry.api.inject({
    method: 'POST', url: `/api/v1/firmware?version=${version}&hardwareClass=sim-1`, headers: { 'content-type': 'application/octet-stream' }, payload: body,
  });

  suite('404: an unknown device, and an unknown route', async () => {
    const device = await ferry.api.inject({ method: 'GET', url: '/api/v1/devices/nope' });
    assert.is(device.statusCode, 404);
    assert.equal(device.json(), { statusCode: 404, error: 'Not Found', message: 'no device nope', code: 'FERRY_DEVICE_NOT_FOUND' });
    const route = await ferry.api.inject({ method: 'GET', url: '/api/v1/nothing?x=1' });
    assert.equal(route.json(), { statusCode: 404, error: 'Not Found', message: 'no route GET /api/v1/nothing', code: 'FERRY_NOT_FOUND' });
  });

  suite('409: a version the class has already', async () => {
    assert.is((await upload('1.0.0', Buffer.from('a'))).statusCode, 201);
    const dup = await upload('1.0.0', Buffer.from('b'));
    assert.is(dup.statusCode, 409);
    const { message, ...rest } = dup.json();
    assert.equal(rest, { statusCode: 409, error: 'Conflict', code: 'FERRY_DUPLICATE_VERSION' });
    assert.match(message, /^firmware version 1\.0\.0 already exists for hardware class sim-1: image 1 has another payload \(SHA-256 [0-9a-f]{64}, this package's is [0-9a-f]{64}\); only the same payload may be re-issued$/);
  });

  suite('400: Fastify\'s schema validation, bad JSON, a URL that does not decode; 415 and 413 of Fastify\'s own', async () => {
    const update = (payload: string, type = 'application/json') => ferry.api.inject({
      method: 'POST', url: '/api/v1/devices/dev-a/update', headers: { 'content-type': type }, payload,
    });
    const invalid = await update('{"firmwareId":"x"}');
    assert.is(invalid.statusCode, 400);
    assert.equal(invalid.json(), { statusCode: 400, error: 'Bad Request', message: 'body/firmwareId must be integer', code: 'FERRY_VALIDATION' });
    const query = await ferry.api.inject({ method: 'GET', url: '/api/v1/devices?limit=0' });
    assert.equal([query.statusCode, query.json().code], [400, 'FERRY_VALIDATION']);
    const url = await ferry.api.inject({ method: 'GET', url: '/api/v1/devices/%C3%28' });
    assert.equal(url.json(), { statusCode: 400, error: 'Bad Request', message: '\'/api/v1/devices/%C3%28\' is not a valid url component', code: 'FERRY_BAD_REQUEST' });
    const broken = await update('{');
    assert.equal([broken.statusCode, broken.json().code], [400, 'FERRY_BAD_JSON']);
    const text = await update('<x/>', 'application/xml');
    assert.equal([text.statusCode, text.json().code], [415, 'FERRY_UNSUPPORTED_MEDIA_TYPE']);
    const big = await upload('2.0.0', Buffer.alloc(1024 * 1024 + 1));
    assert.equal([big.statusCode, big.json().code], [413, 'FERRY_PAYLOAD_TOO_LARGE']);
  });

  suite('401: no token, a bad one; WWW-Authenticate stays', async () => {
    const none = await injectRaw(ferry, { method: 'GET', url: '/api/v1/devices' });
    assert.is(none.statusCode, 401);
    assert.equal(none.json(), { statusCode: 401, error: 'Unauthorized', message: 'send a bearer token: Authorization: Bearer fry_…', code: 'FERRY_UNAUTHORIZED' });
    assert.is(none.headers['www-authenticate'], 'Bearer realm="ferry"');
    const bad = await injectRaw(ferry, { method: 'GET', url: '/api/v1/devices', headers: { authorization: 'Bearer fry_unknown' } });
    assert.equal([bad.statusCode, bad.json().code, bad.headers['www-authenticate']], [401, 'FERRY_UNAUTHORIZED', 'Bearer realm="ferry", error="invalid_token"']);
  });

  suite('upload refusals carry the upload\'s code: a package that does not decode, an empty image', async () => {
    const malformed = await upload('3.0.0', Buffer.from('FRY1 and nothing of a package'));
    assert.equal([malformed.statusCode, malformed.json().code], [400, 'FERRY_DECODE']);
    assert.match(malformed.json().message, /^not a valid Ferry package: /);
    const empty = await upload('3.0.0', Buffer.alloc(0));
    assert.equal([empty.statusCode, empty.json().code], [400, 'FERRY_UPLOAD_EMPTY']);
  });

  suite('the OpenAPI document\'s error bodies have the code', async () => {
    const doc = (await injectRaw(ferry, { method: 'GET', url: '/docs/json' })).json() as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> }> }>>;
    };
    const refusal = doc.paths['/api/v1/devices/{endpoint}']?.['get']?.responses['4XX']?.content?.['application/json']?.schema;
    assert.ok(refusal?.properties?.['code'], JSON.stringify(refusal));
    assert.equal(Object.keys(refusal!.properties!).sort(), ['code', 'error', 'message', 'statusCode']);
  });
});
