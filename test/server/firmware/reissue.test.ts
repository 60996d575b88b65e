// Re-issues: a version the class has live, uploaded again with the same payload and a higher
// sequence number, is stored beside the original with its release state; another payload, a
// sequence number not above the class's highest, or a revoked original is refused.
import * as assert from 'uvu/assert';
import { signPackage } from '../../../protocols/package.ts';
import type { Ferry } from '../../../server/main.ts';
import { revokeReleases } from '../../../server/governance/halt.ts';
import { insertFirmware } from '../../../server/store/firmware.ts';
import { rejects } from '../../helpers/assert.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { startTestFerry, testSigningKey } from '../../helpers/ferry.ts';

const PAYLOAD = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff));
const OTHER = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 11) & 0xff));
const pkg = (version: string, sequence: number, payload: Buffer = PAYLOAD): Buffer => Buffer.from(signPackage({
  payload, key: testSigningKey().key, sequence, vendorId: 'ferry', classId: 'sensor-a', version, created: 1_700_000_000,
}));

forEachDatabase('firmware re-issues', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before.each(async () => { ferry = await startTestFerry(get().db); });
  suite.after.each(async () => { await ferry.close(); });

  const upload = async (body: Buffer, query = '') => {
    const res = await ferry.api.inject({ method: 'POST', url: `/api/v1/firmware${query}`, headers: { 'content-type': 'application/octet-stream' }, payload: body });
    return { status: res.statusCode, body: res.json() };
  };
  const setState = (id: number, state: string) => get().db.query('UPDATE firmware_images SET state = $2 WHERE id = $1', [id, state]);

  suite('the same payload with a higher sequence number: a re-issue of the original, approved as it is, with an event', async () => {
    const a = await upload(pkg('1.2.0', 10));
    assert.is(a.status, 201);
    await setState(a.body.id, 'approved');
    assert.is((await upload(pkg('2.0.0', 20))).status, 201);
    const again = await upload(pkg('1.2.0', 30));
    assert.is(again.status, 201, JSON.stringify(again.body));
    assert.equal([again.body.version, again.body.sequence, again.body.reissueOf, again.body.state], ['1.2.0', 30, a.body.id, 'approved']);
    const events = await get().db.query<{ actor: string; data: Record<string, unknown> }>(`SELECT actor, data FROM events WHERE kind = 'firmware.reissued'`);
    assert.is(events.rows.length, 1);
    assert.equal(events.rows[0]!.data, {
      firmwareId: again.body.id, reissueOf: a.body.id, version: '1.2.0', hardwareClass: 'sensor-a', sequence: 30,
      state: 'approved', inheritedFrom: 'approved', user: 'FERRY_ADMIN_TOKEN',
    });
    assert.is(events.rows[0]!.actor, 'token:FERRY_ADMIN_TOKEN');
    // A second re-issue points at the original too; a raw image of the same payload, signed here, is one as well.
    const third = await upload(pkg('1.2.0', 40));
    assert.equal([third.status, third.body.reissueOf], [201, a.body.id]);
    const raw = await upload(PAYLOAD, '?version=1.2.0&hardwareClass=sensor-a');
    assert.equal([raw.status, raw.body.reissueOf, raw.body.sequence, raw.body.signedBy], [201, a.body.id, 41, 'server']);
    const list = (await ferry.api.inject({ method: 'GET', url: '/api/v1/firmware' })).json().items as Array<{ version: string }>;
    assert.is(list.filter((f) => f.version === '1.2.0').length, 4);
  });

  suite('the state follows the original: deprecated gives approved, uploaded stays uploaded', async () => {
    const a = await upload(pkg('1.0.0', 1));
    const b = await upload(pkg('1.1.0', 2, OTHER));
    await setState(a.body.id, 'deprecated');
    const ra = await upload(pkg('1.0.0', 3));
    const rb = await upload(pkg('1.1.0', 4, OTHER));
    assert.equal([ra.status, ra.body.state, ra.body.reissueOf], [201, 'approved', a.body.id]);
    assert.equal([rb.status, rb.body.state, rb.body.reissueOf], [201, 'uploaded', b.body.id]);
  });

  suite('refused: another payload, a sequence number not above the class\'s highest, a revoked original; nothing stored', async () => {
    const a = await upload(pkg('1.2.0', 10));
    assert.is((await upload(pkg('2.0.0', 20))).status, 201);
    const count = async () => (await get().db.query<{ n: number }>('SELECT count(*)::int AS n FROM firmware_images')).rows[0]!.n;
    const before = await count();
    const other = await upload(pkg('1.2.0', 30, OTHER));
    assert.equal([other.status, other.body.code], [409, 'FERRY_DUPLICATE_VERSION']);
    assert.match(other.body.message, new RegExp(`image ${a.body.id} has another payload .*only the same payload may be re-issued`));
    const low = await upload(pkg('1.2.0', 15));
    assert.equal([low.status, low.body.code], [409, 'FERRY_DUPLICATE_VERSION']);
    assert.match(low.body.message, /sign it again .*above 20, the class's highest \(this package has 15\): ferry sign --sequence N where N > 20/);
    await setState(a.body.id, 'revoked');
    const revoked = await upload(pkg('1.2.0', 30));
    assert.equal([revoked.status, revoked.body.code], [409, 'FERRY_UPLOAD_REISSUE_REVOKED']);
    assert.match(revoked.body.message, /version 1\.2\.0 of class sensor-a \(image \d+\) is revoked: a revoked release cannot be re-issued/);
    assert.is(await count(), before);
  });

  suite('revoking the original revokes its re-issues (the same firmware); none can be made then', async () => {
    const a = await upload(pkg('1.2.0', 10));
    const again = await upload(pkg('1.2.0', 11));
    const other = await upload(pkg('1.3.0', 12, OTHER));
    const halted = await revokeReleases(get().db, undefined, { firmwareIds: [a.body.id], reason: 'bricks sensors', actor: 'token:t', user: 'alice' });
    assert.equal(halted.revoked.map((r) => r.id), [a.body.id, again.body.id]);
    const states = await get().db.query<{ id: number; state: string }>('SELECT id, state FROM firmware_images ORDER BY id');
    assert.equal(states.rows.map((r) => r.state), ['revoked', 'revoked', 'uploaded']);
    assert.is(states.rows[2]!.id, other.body.id);
    const refused = await upload(pkg('1.2.0', 13));
    assert.equal([refused.status, refused.body.code], [409, 'FERRY_UPLOAD_REISSUE_REVOKED']);
  });

  suite('the index still allows one live original a class and version (an image stored without a manifest cannot be re-issued)', async () => {
    const db = get().db;
    await insertFirmware(db, { version: '0.9.0', hardwareClass: 'sensor-a', payload: PAYLOAD });
    assert.match((await rejects(insertFirmware(db, { version: '0.9.0', hardwareClass: 'sensor-a', payload: PAYLOAD }))).message, /already exists/);
    const res = await upload(pkg('0.9.0', 5));
    assert.equal([res.status, res.body.code], [409, 'FERRY_DUPLICATE_VERSION']);
    assert.match(res.body.message, /has no signed manifest to compare payloads with/);
  });
});
