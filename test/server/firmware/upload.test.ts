// POST /api/v1/firmware with signed packages and raw images: what is stored, and every refusal
// (a clear 4xx JSON message, nothing stored), on every test database.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodePrivateKeyPem, encodePublicKeyPem, generateSigningKey } from '../../../protocols/package-keys.ts';
import { parsePackage, signPackage, verifyPackage, type SigningKey } from '../../../protocols/package.ts';
import { helpText } from '../../../server/config.ts';
import { KeyFileError } from '../../../server/errors.ts';
import { loadPackageKeys } from '../../../server/firmware/keys.ts';
import { silentLogger } from '../../../server/log.ts';
import type { Ferry } from '../../../server/main.ts';
import { startFerry } from '../../../server/main.ts';
import { listEvents } from '../../../server/store/events.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { startTestFerry, testConfig, testSigningKey } from '../../helpers/ferry.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-upload-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const keyFile = (name: string, k: SigningKey): string => {
  writeFileSync(join(dir, name), encodePrivateKeyPem(k));
  writeFileSync(join(dir, `${name}.pub`), encodePublicKeyPem(k));
  return join(dir, `${name}.pub`);
};
const VENDOR = generateSigningKey('ed25519');
const VENDOR_ES = generateSigningKey('es256');
const STRANGER = generateSigningKey('ed25519');
const TRUSTED = [keyFile('vendor', VENDOR), keyFile('vendor-es', VENDOR_ES)];
const IMAGE = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) & 0xff));
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const pkg = (o: { version?: string; classId?: string; sequence?: number; key?: SigningKey; payload?: Uint8Array } = {}): Buffer =>
  Buffer.from(signPackage({
    payload: o.payload ?? IMAGE, key: o.key ?? VENDOR, sequence: o.sequence ?? 10, vendorId: 'acme',
    classId: o.classId ?? 'sensor-v2', version: o.version ?? '2.0.0', created: 1_700_000_000,
  }));

forEachDatabase('firmware upload', ({ suite, get }) => {
  let signing: Ferry;   // trusted keys + the test signing key
  let verifying: Ferry; // trusted keys only: raw images are refused
  suite.before(async () => {
    signing = await startTestFerry(get().db, { trustedKeys: [...TRUSTED, testSigningKey().pubFile] });
    verifying = await startTestFerry(get().db, { trustedKeys: TRUSTED, signingKey: undefined });
  });
  suite.after(async () => { await Promise.all([signing.close(), verifying.close()]); });

  const upload = (body: Buffer, query = '', server = signing) =>
    server.api.inject({ method: 'POST', url: `/api/v1/firmware${query}`, headers: { 'content-type': 'application/octet-stream' }, payload: body });
  const stored = async (id: number) => (await get().db.query<{ payload: Buffer; manifest: Buffer | null; sequence: number | null }>(
    'SELECT payload, manifest, sequence FROM firmware_images WHERE id = $1', [id])).rows[0]!;
  const counts = async () => (await get().db.query<{ images: number; events: number }>(
    'SELECT (SELECT count(*)::int FROM firmware_images) AS images, (SELECT count(*)::int FROM events) AS events')).rows[0]!;

  suite('a signed package: version and class from the manifest, the whole package stored for delivery', async () => {
    const body = pkg();
    const res = await upload(body);
    assert.is(res.statusCode, 201, res.body);
    const fw = res.json();
    assert.match(fw.downloadName, /^[0-9a-f]{32}$/, 'an unguessable name for Package URIs');
    assert.type(fw.uploadedBy, 'number');
    assert.equal({ ...fw, id: 0, createdAt: '', downloadName: '', uploadedBy: 0 }, {
      id: 0, version: '2.0.0', hardwareClass: 'sensor-v2', size: body.length, sha256: sha256(body), delivery: 'package',
      sequence: 10, vendorId: 'acme', keyId: Buffer.from(VENDOR.kid).toString('hex'), createdAt: '', downloadName: '',
      // A new release: uploaded (not approved), signed by the release machine, by the token's user.
      keyName: 'vendor.pub', state: 'uploaded', stateChangedAt: null, signedBy: 'uploader', uploadedBy: 0, uploadedByUser: 'FERRY_ADMIN_TOKEN', reissueOf: null,
    });
    assert.type(fw.uploadedBy, 'number');
    const row = await stored(fw.id);
    assert.ok(row.payload.equals(body));
    assert.ok(row.manifest!.equals(parsePackage(body).header.coseBytes));
    const list = await signing.api.inject({ method: 'GET', url: '/api/v1/firmware' });
    assert.equal(list.json(), { items: [fw], next: null });
    const [event] = (await listEvents(get().db, {})).filter((e) => e.kind === 'firmware.uploaded');
    assert.is(event?.data['sequence'], 10);
    assert.is(event?.data['signedBy'], 'uploader');
  });

  suite('?delivery=payload stores only the payload (the manifest is still verified and stored); ES256 too', async () => {
    const body = pkg({ key: VENDOR_ES });
    const res = await upload(body, '?delivery=payload&version=2.0.0&hardwareClass=sensor-v2');
    assert.is(res.statusCode, 201, res.body);
    assert.is(res.json().delivery, 'payload');
    assert.is(res.json().size, IMAGE.length);
    assert.is(res.json().sha256, sha256(IMAGE));
    const row = await stored(res.json().id);
    assert.ok(row.payload.equals(IMAGE));
    assert.ok(row.manifest!.equals(parsePackage(body).header.coseBytes));
    const tampered = pkg({ version: '2.0.1', sequence: 11 });
    tampered[tampered.length - 1]! ^= 1;
    assert.is((await upload(tampered, '?delivery=payload')).statusCode, 422);
  });

  suite('a raw image with a signing key: signed with the class\'s next sequence number', async () => {
    assert.is((await upload(pkg({ sequence: 41 }))).statusCode, 201);
    // Without ?delivery= devices get the package the server signed (the default is package).
    const raw = await upload(IMAGE, '?version=2.1.0&hardwareClass=sensor-v2');
    assert.is(raw.statusCode, 201, raw.body);
    assert.is(raw.json().sequence, 42);
    assert.is(raw.json().delivery, 'package');
    assert.is(raw.json().keyId, Buffer.from(testSigningKey().key.kid).toString('hex'));
    const { header, payload } = verifyPackage((await stored(raw.json().id)).payload, [testSigningKey().key]);
    assert.ok(Buffer.from(payload).equals(IMAGE));
    assert.equal([header.manifest.version, header.manifest.classId, header.manifest.sequence], ['2.1.0', 'sensor-v2', 42]);
    // ?delivery=payload: devices with their own image format get the raw bytes, as uploaded.
    const asPayload = await upload(IMAGE, '?version=2.2.0&hardwareClass=sensor-v2&delivery=payload');
    assert.is(asPayload.statusCode, 201, asPayload.body);
    assert.is(asPayload.json().sequence, 43);
    assert.is(asPayload.json().delivery, 'payload');
    assert.ok((await stored(asPayload.json().id)).payload.equals(IMAGE));
    // Concurrent raw uploads of one class get distinct sequence numbers.
    const many = await Promise.all(['3.0', '3.1', '3.2'].map((v) => upload(IMAGE, `?version=${v}&hardwareClass=sensor-v2`)));
    assert.equal(many.map((r) => r.statusCode), [201, 201, 201]);
    assert.equal(many.map((r) => r.json().sequence).sort(), [44, 45, 46]);
  });

  suite('refusals: each a 4xx JSON message, nothing stored', async () => {
    assert.is((await upload(pkg({ sequence: 10 }))).statusCode, 201);
    const before = await counts();
    const good = pkg({ version: '2.0.1', sequence: 11 });
    const { header } = parsePackage(good);
    const flip = (at: number): Buffer => { const b = Buffer.from(good); b[at]! ^= 0x01; return b; };
    const cases: Array<[string, Promise<{ statusCode: number; json(): { message: string } }>, number, RegExp]> = [
      ['bad magic, no signing key', upload(Buffer.concat([Buffer.from('FRY2'), good.subarray(4)]), '', verifying), 422, /raw image.*ferry sign.*--signing-key/],
      ['bad magic, raw image without version', upload(Buffer.concat([Buffer.from('FRY2'), good.subarray(4)])), 400, /needs \?version=/],
      ['truncated in the header', upload(good.subarray(0, 60)), 400, /not a valid Ferry package: the package ends inside its header/],
      ['truncated payload', upload(good.subarray(0, good.length - 1)), 400, /not a valid Ferry package: the payload has 4999 bytes, the manifest says 5000/],
      ['trailing bytes', upload(Buffer.concat([good, Buffer.of(0)])), 400, /1 bytes after the 5000-byte payload/],
      ['manifest length', upload(Buffer.concat([good.subarray(0, 4), Buffer.of(0xff, 0, 0, 0), good.subarray(8)])), 400, /manifest length/],
      ['bad signature', upload(flip(header.headerLength - 1)), 422, /bad-signature/],
      ['flipped manifest byte', upload(flip(good.indexOf('2.0.1'))), 422, /bad-signature/],
      ['unknown key', upload(pkg({ key: STRANGER, version: '2.0.1', sequence: 11 })), 422, /unknown-key.*not trusted/],
      ['digest (a flipped payload byte)', upload(flip(good.length - 100)), 422, /digest/],
      ['size (a manifest for fewer bytes)', upload(Buffer.concat([pkg({ version: '2.0.1', sequence: 11, payload: IMAGE.subarray(1) }), IMAGE.subarray(0, 1)])), 400, /after the 4999-byte payload/],
      ['rollback: sequence equal', upload(pkg({ version: '2.0.1', sequence: 10 })), 409, /sequence number 10 is not above 10.*force=true/],
      ['rollback: sequence lower', upload(pkg({ version: '1.9.0', sequence: 3 })), 409, /not above 10/],
      ['duplicate version, another payload', upload(pkg({ version: '2.0.0', sequence: 99, payload: IMAGE.subarray(1) })), 409, /already exists.*another payload/],
      ['duplicate version, the same package again', upload(pkg({ sequence: 10 })), 409, /already exists.*to re-issue it, sign it again.*N > 10/],
      ['query contradicts the manifest version', upload(good, '?version=9.9.9'), 400, /query says version 9\.9\.9.*manifest says 2\.0\.1/],
      ['query contradicts the manifest class', upload(good, '?hardwareClass=other'), 400, /manifest says class sensor-v2/],
      ['empty payload', upload(pkg({ version: '0.0.0', sequence: 12, payload: new Uint8Array(0) })), 400, /payload is empty/],
      ['empty body', upload(Buffer.alloc(0)), 400, /empty/],
      ['bad delivery', upload(good, '?delivery=both'), 400, /delivery/],
    ];
    for (const [what, pending, status, message] of cases) {
      const res = await pending;
      assert.is(res.statusCode, status, `${what}: ${JSON.stringify(res.json())}`);
      assert.match(res.json().message, message, what);
    }
    assert.equal(await counts(), before);
  });

  suite('?force=true stores a lower sequence number, logged in the event', async () => {
    assert.is((await upload(pkg({ sequence: 10 }))).statusCode, 201);
    const res = await upload(pkg({ version: '1.9.0', sequence: 3 }), '?force=true');
    assert.is(res.statusCode, 201, res.body);
    assert.is(res.json().sequence, 3);
    const events = (await listEvents(get().db, {})).filter((e) => e.kind === 'firmware.uploaded');
    assert.equal(events.map((e) => [e.data['version'], e.data['forced'] ?? false, e.data['highestSequence'] ?? null]), [['2.0.0', false, null], ['1.9.0', true, 10]]);
  });

  suite('two concurrent packages with one sequence number: one stored, one refused', async () => {
    const results = await Promise.all([upload(pkg({ version: 'a', sequence: 5 })), upload(pkg({ version: 'b', sequence: 5 }))]);
    assert.equal(results.map((r) => r.statusCode).sort(), [201, 409]);
    assert.is((await counts()).images, 1);
  });

  suite('a server with no trusted keys refuses packages and says how to configure them', async () => {
    const bare = await startTestFerry(get().db, { trustedKeys: undefined, signingKey: undefined });
    try {
      const res = await upload(pkg(), '', bare);
      assert.is(res.statusCode, 422);
      assert.match(res.json().message, /--trusted-keys/);
      assert.is((await upload(pkg().subarray(0, 50), '', bare)).statusCode, 400);
    } finally {
      await bare.close();
    }
  });

  suite('an image larger than the whole image cache: 413 naming --image-cache-mb and --max-upload-mb, nothing stored', async () => {
    const small = await startTestFerry(get().db, { imageCacheMb: 1, maxUploadMb: 2, trustedKeys: [...TRUSTED, testSigningKey().pubFile] });
    try {
      const MiB = 1024 * 1024;
      const big = Buffer.alloc(MiB + 1, 7);
      for (const res of [await upload(big, '?version=9.0.0&hardwareClass=sim-1', small), await upload(pkg({ payload: big, version: '9.0.1' }), '', small)]) {
        assert.is(res.statusCode, 413, res.body);
        assert.match(res.json().message, /more than the whole image cache \(--image-cache-mb \/ FERRY_IMAGE_CACHE_MB, 1 MiB\)/);
        assert.match(res.json().message, /--max-upload-mb/);
      }
      assert.is((await counts()).images, 0);
      // What counts is what devices receive: the payload alone fits at exactly the cache size, the package around it does not.
      const exact = Buffer.alloc(MiB, 8);
      assert.is((await upload(exact, '?version=9.1.0&hardwareClass=sim-1', small)).statusCode, 413);
      const payloadOnly = await upload(exact, '?version=9.1.0&hardwareClass=sim-1&delivery=payload', small);
      assert.is(payloadOnly.statusCode, 201, payloadOnly.body);
      assert.is(payloadOnly.json().size, MiB);
      assert.match(helpText(), /--image-cache-mb <v> +memory for firmware images .*refused with 413, so keep it at or above --max-upload-mb/);
    } finally {
      await small.close();
    }
  });
});

test('start-up: a missing or unusable key file is an error naming the file', async () => {
  const missing = join(dir, 'nope.pub');
  for (const [o, file] of [
    [{ trustedKeys: [TRUSTED[0]!, missing] }, missing],
    [{ signingKey: join(dir, 'vendor.pub') }, join(dir, 'vendor.pub')], // a public key where a private key belongs
    [{ trustedKeys: [join(dir, 'vendor')] }, join(dir, 'vendor')],      // and the other way round
  ] as const) {
    try {
      await loadPackageKeys(o);
      assert.unreachable(`${file} should be refused`);
    } catch (err) {
      assert.instance(err, KeyFileError);
      assert.ok((err as Error).message.includes(file), (err as Error).message);
    }
  }
  const keys = await loadPackageKeys({ trustedKeys: TRUSTED, signingKey: testSigningKey().keyFile });
  assert.is(keys.trustedKeys.length, 3); // the signing key's public half is trusted too
  try {
    await startFerry(testConfig({ trustedKeys: [missing] }), { log: silentLogger() });
    assert.unreachable('startFerry should refuse');
  } catch (err) {
    assert.instance(err, KeyFileError);
    assert.match((err as Error).message, /cannot read public key .*nope\.pub \(--trusted-keys \/ FERRY_TRUSTED_KEYS\): no such file/);
  }
});

test.run();
