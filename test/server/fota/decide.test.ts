// The update engine's pure decisions, table-driven: (server state, event) → next state, commands.
// Device states and result codes are LwM2M Object 5's (/5/0/3 State, /5/0/5 Update Result).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chooseDelivery, decide, updateContext, type UpdateEvent } from '../../../server/fota/decide.ts';
import { deliveryMethodEvent, deliveryReads, hasObject5v11, readAfterFailure } from '../../../server/fota/object5.ts';
import type { UpdateState } from '../../../server/fota/model.ts';

const V = '2.0.0';
type Row = [UpdateState, UpdateEvent, UpdateState | undefined, string[]];

const rows: Row[] = [
  // start: observe first so no notification is missed, then learn the delivery method (/5/0/9, /5/0/8)
  ['queued', { type: 'registered' }, undefined, ['observe', 'readDeliveryMethod']],
  // Object 5 res. 9: 0 pull only, 1 push only, 2 both (pull preferred); absent (Object 5 1.0) → pull
  ['queued', { type: 'deliveryMethod', value: 0, protocols: [0] }, undefined, ['writePackageUri']],
  ['queued', { type: 'deliveryMethod', value: 1, protocols: [0] }, 'sent', ['pushPackage']],
  ['queued', { type: 'deliveryMethod', value: 2, protocols: [0, 1] }, undefined, ['writePackageUri']],
  ['queued', { type: 'deliveryMethod', value: null, protocols: null }, undefined, ['writePackageUri']],
  ['queued', { type: 'deliveryMethod', value: 7, protocols: null }, undefined, ['writePackageUri']],
  // res. 8 without CoAP (0): a device that takes push gets push; a pull-only one cannot be served
  ['queued', { type: 'deliveryMethod', value: 2, protocols: [3] }, 'sent', ['pushPackage']],
  ['queued', { type: 'deliveryMethod', value: 0, protocols: [2, 3] }, 'failed', []],
  ['sent', { type: 'deliveryMethod', value: 1, protocols: [0] }, undefined, []],   // stale: decided already
  // A device left Downloading/Downloaded by an earlier try is reset first (Object 5 res. 1, empty URI).
  ['queued', { type: 'deliveryMethod', value: 0, protocols: [0], deviceState: 2 }, undefined, ['resetPackageUri', 'writePackageUri']],
  ['queued', { type: 'deliveryMethod', value: 1, protocols: [0], deviceState: 1 }, 'sent', ['resetPackageUri', 'pushPackage']],
  ['queued', { type: 'deliveryMethod', value: 0, protocols: [0], deviceState: 0 }, undefined, ['writePackageUri']],
  ['queued', { type: 'deliveryMethod', value: 0, protocols: [0], deviceState: null }, undefined, ['writePackageUri']],
  ['queued', { type: 'written' }, 'sent', []],
  // push: the last block's 2.04, then State (its notification may be lost); Downloaded → Execute as in pull
  ['sent', { type: 'pushed' }, undefined, ['readResult']],
  ['downloading', { type: 'pushed' }, undefined, ['readResult']],
  ['downloaded', { type: 'pushed' }, undefined, []],
  ['sent', { type: 'commandFailed', command: 'pushPackage', reason: 'device answered 4.13' }, 'failed', []],
  ['sent', { type: 'commandFailed', command: 'pushPackage', reason: 'device answered 4.00', resultCode: 5 }, 'failed', []],
  ['queued', { type: 'result', value: 1 }, undefined, []],          // the previous update's result
  ['queued', { type: 'state', value: 1 }, undefined, []],
  ['sent', { type: 'result', value: 1 }, undefined, []],            // still the previous result
  ['sent', { type: 'state', value: 1 }, 'downloading', []],
  ['sent', { type: 'state', value: 2 }, 'downloaded', ['executeUpdate']], // Downloading notification lost
  ['downloading', { type: 'state', value: 2 }, 'downloaded', ['executeUpdate']],
  ['downloading', { type: 'state', value: 1 }, undefined, []],
  ['downloaded', { type: 'executed' }, 'updating', []],
  ['downloaded', { type: 'state', value: 3 }, 'updating', []],
  ['updating', { type: 'registered' }, undefined, ['observe', 'readStatus']], // rebooted: observe again, read where it is
  ['updating', { type: 'result', value: 1 }, undefined, ['readFirmwareVersion']],
  ['updating', { type: 'firmwareVersion', value: V }, 'succeeded', []],
  ['updating', { type: 'firmwareVersion', value: '1.9.9' }, 'succeeded', []],
  ['downloading', { type: 'result', value: 5 }, 'failed', []],       // integrity check failure
  ['downloading', { type: 'result', value: 4 }, 'failed', []],       // connection lost
  ['updating', { type: 'result', value: 8 }, 'failed', []],          // update failed
  ['sent', { type: 'result', value: 0 }, undefined, []],
  ['downloading', { type: 'registered' }, undefined, ['observe', 'readStatus']],
  // 'found': State and Update Result read after a reboot or a take-over (another process had the update)
  ['sent', { type: 'found', state: 1, result: 0 }, 'downloading', []],          // pulling
  ['sent', { type: 'found', state: 2, result: 0 }, 'downloaded', ['executeUpdate']],
  ['sent', { type: 'found', state: 0, result: 0 }, 'failed', []],               // the Package URI never arrived
  ['downloading', { type: 'found', state: 0, result: 1 }, 'failed', []],        // Idle, an older success: lost
  ['downloading', { type: 'found', state: 0, result: 5 }, 'failed', []],        // integrity failure, with its code
  ['downloaded', { type: 'found', state: 2, result: 0 }, undefined, ['executeUpdate']], // the Execute was lost
  ['downloaded', { type: 'found', state: 0, result: 1 }, 'updating', ['readFirmwareVersion']], // done, its ack lost
  ['downloaded', { type: 'found', state: 0, result: 0 }, 'failed', []],         // the package is gone
  ['updating', { type: 'found', state: 0, result: 1 }, undefined, ['readFirmwareVersion']],
  ['updating', { type: 'found', state: 3, result: 0 }, undefined, []],          // still applying
  ['updating', { type: 'found', state: 0, result: 8 }, 'failed', []],
  // 'poke': overdue while the device talks; where is it? (a lost notification, a lost observation)
  ['sent', { type: 'poke' }, undefined, ['readStatus']],
  ['updating', { type: 'poke' }, undefined, ['readStatus']],
  ['queued', { type: 'poke' }, undefined, []],
  ['succeeded', { type: 'poke' }, undefined, []],
  ['sent', { type: 'timeout' }, 'failed', []],
  ['sent', { type: 'commandFailed', command: 'writePackageUri', reason: 'x' }, 'failed', []],
  ['succeeded', { type: 'timeout' }, undefined, []],
  ['failed', { type: 'registered' }, undefined, []],
  ['cancelled', { type: 'state', value: 2 }, undefined, []],
];

for (const [state, event, to, commands] of rows) {
  test(`${state} + ${event.type}${'value' in event ? `=${event.value}` : 'state' in event ? `=${event.state}/${event.result}` : ''} → ${to ?? '(stays)'} [${commands.join(', ')}]`, () => {
    const d = decide(state, event, V);
    assert.is(d.to, to);
    assert.equal(d.commands.map((c) => c.type), commands);
  });
}

test('a push cut off by a restart (device still Downloading, nobody sending) fails as interrupted; a pull does not', () => {
  const push = decide('sent', { type: 'found', state: 1, result: 0 }, V, { delivery: 'push' });
  assert.is(push.to, 'failed');
  assert.match(push.reason ?? '', /^interrupted: the push was cut off/);
  assert.is(decide('downloading', { type: 'found', state: 1, result: 0 }, V, { delivery: 'pull' }).to, undefined);
  const lost = decide('sent', { type: 'found', state: 0, result: 0 }, V, { delivery: 'pull' });
  assert.match(lost.reason ?? '', /^interrupted: the device is Idle/);
  assert.is(decide('downloading', { type: 'found', state: 0, result: 5 }, V).resultCode, 5);
});

test('a notification that arrived before the last package write was sent is about the previous package: ignored', () => {
  const ctx = { writtenAt: 7 };
  assert.equal(decide('sent', { type: 'state', value: 2, arrival: 6 }, V, ctx), { commands: [] });
  assert.equal(decide('downloading', { type: 'result', value: 5, arrival: 3 }, V, ctx), { commands: [] });
  assert.is(decide('sent', { type: 'state', value: 2, arrival: 8 }, V, ctx).to, 'downloaded');
  assert.is(decide('sent', { type: 'state', value: 2 }, V, ctx).to, 'downloaded', 'a read is never stale');
});

test('a poke\'s read is quiet: a device busy installing that does not answer fails nothing', () => {
  assert.equal(decide('updating', { type: 'poke' }, V).commands, [{ type: 'readStatus', quiet: true }]);
  assert.equal(decide('updating', { type: 'registered' }, V).commands[1], { type: 'readStatus' });
});

test('a failure keeps the Update Result code and names it', () => {
  const d = decide('downloading', { type: 'result', value: 5 }, V);
  assert.is(d.resultCode, 5);
  assert.match(d.reason ?? '', /integrity/);
});

test('success reports the version and flags a mismatch', () => {
  const ok = decide('updating', { type: 'firmwareVersion', value: V }, V);
  assert.is(ok.versionMismatch, false);
  assert.is(ok.reportedVersion, V);
  assert.is(ok.resultCode, 1);
  const off = decide('updating', { type: 'firmwareVersion', value: '1.9.9' }, V);
  assert.is(off.versionMismatch, true);
  assert.match(off.reason ?? '', /1\.9\.9/);
});

test('delivery: push-only pushes, pull-only and both pull, and the decision says why', () => {
  assert.equal(decide('queued', { type: 'deliveryMethod', value: 1, protocols: null }, V).delivery?.method, 'push');
  assert.equal(decide('queued', { type: 'deliveryMethod', value: 0, protocols: [0] }, V).delivery?.method, 'pull');
  const both = decide('queued', { type: 'deliveryMethod', value: 2, protocols: [0, 3] }, V).delivery;
  assert.is(both?.method, 'pull');
  assert.match(both?.why ?? '', /Delivery Method 2/);
  assert.match(decide('queued', { type: 'deliveryMethod', value: null, protocols: null }, V).delivery?.why ?? '', /no Delivery Method/);
  assert.is(decide('sent', { type: 'deliveryMethod', value: 1, protocols: null }, V).delivery, undefined);
});

test('delivery: resource 8 without CoAP', () => {
  assert.match((chooseDelivery(2, [1]) as { why: string }).why, /CoAPS only, not CoAP/);
  const refused = decide('queued', { type: 'deliveryMethod', value: 0, protocols: [2, 3] }, V);
  assert.is(refused.delivery, undefined);
  assert.match(refused.reason ?? '', /pulls over HTTP 1\.1, HTTPS 1\.1 only and takes no push/);
  assert.equal(chooseDelivery(null, []), { method: 'pull', why: 'no Delivery Method (/5/0/9): pull' });
});

test('a failed push names the failure, and the Update Result the device showed after it', () => {
  const d = decide('sent', { type: 'commandFailed', command: 'pushPackage', reason: 'device answered 4.00: digest mismatch', resultCode: 5 }, V);
  assert.is(d.resultCode, 5);
  assert.is(d.reason, 'pushPackage failed: device answered 4.00: digest mismatch (Update Result 5: integrity check failure)');
  const plain = decide('sent', { type: 'commandFailed', command: 'pushPackage', reason: 'no response in 5000 ms', resultCode: 0 }, V);
  assert.is(plain.resultCode, undefined);
  assert.is(plain.reason, 'pushPackage failed: no response in 5000 ms');
});

test('a timeout names its reason', () => {
  assert.match(decide('downloading', { type: 'timeout' }, V).reason ?? '', /timeout/);
});

// The policy the engine runs without deciding it: the context of a decision, the resources read
// before the package goes out and how their values are taken, what is read after a failure.

const row = (severity: number | null) => ({ requestedDelivery: null, severity, delivery: null });
const o5 = (version?: string) => ({ objects: [{ objectId: 3, instances: [0] }, { objectId: 5, instances: [0], ...(version === undefined ? {} : { version }) }] });

test('Object 5 1.1 or later: from the version the device registered (none: 1.0)', () => {
  assert.is(hasObject5v11(o5()), false);
  assert.is(hasObject5v11(o5('1.0')), false);
  assert.is(hasObject5v11(o5('1.1')), true);
  assert.is(hasObject5v11(o5('1.2')), true);
  assert.is(hasObject5v11(o5('2.0')), true);
  assert.is(hasObject5v11({ objects: [] }), false);
  assert.is(hasObject5v11(null), false);
});

test('Severity (res. 11) and Cancel (res. 10) only for Object 5 1.1; Severity only when the update asks for one, with its value', () => {
  const method = { type: 'deliveryMethod', value: 0, protocols: [0] } as const;
  const v11 = updateContext(row(0), { object5v11: true, writtenAt: 0, followed: true });
  assert.equal(decide('queued', method, V, v11).commands, [{ type: 'writeSeverity', value: 0 }, { type: 'writePackageUri' }]);
  assert.is(v11.canCancel, true);
  const v10 = updateContext(row(0), { object5v11: false, writtenAt: 0, followed: true });
  assert.equal(decide('queued', method, V, v10).commands, [{ type: 'writePackageUri' }]);
  assert.is(v10.canCancel, false);
  const none = updateContext(row(null), { object5v11: true, writtenAt: 0, followed: true });
  assert.equal(decide('queued', method, V, none).commands, [{ type: 'writePackageUri' }]);
  const mandatory = updateContext(row(1), { object5v11: true, writtenAt: 0, followed: true });
  assert.equal(decide('queued', { type: 'deliveryMethod', value: 1, protocols: null }, V, mandatory).commands,
    [{ type: 'writeSeverity', value: 1 }, { type: 'pushPackage' }]);
});

test('a poke of an update nobody follows takes it up once the device answers; a followed one is only read', () => {
  const ctx = (followed: boolean) => updateContext(row(null), { object5v11: false, writtenAt: 0, followed });
  assert.equal(decide('downloading', { type: 'poke' }, V, ctx(false)).commands, [{ type: 'readStatus', quiet: true, takeUp: true }]);
  assert.equal(decide('downloading', { type: 'poke' }, V, ctx(true)).commands, [{ type: 'readStatus', quiet: true }]);
  assert.equal(decide('queued', { type: 'poke' }, V, ctx(false)).commands, []);
  assert.equal(decide('downloading', { type: 'registered' }, V, ctx(false)).commands, [{ type: 'observe' }, { type: 'readStatus' }]);
});

test('before the package: /5/0/9, /5/0/8 (all instances, TLV), /5/0/3, and /5/0/13 from Object 5 1.1 only', () => {
  const paths = (v11: boolean) => deliveryReads(v11).map(([name, r]) => `${name} ${r.path} ${r.accept}${r.multiple ? ' *' : ''}`);
  assert.equal(paths(false), ['deliveryMethod /5/0/9 0', 'protocolSupport /5/0/8 11542 *', 'deviceState /5/0/3 0']);
  assert.equal(paths(true), [...paths(false), 'maxDeferPeriod /5/0/13 0']);
});

test('the values read become one deliveryMethod event: a resource the device lacks is null, a negative Maximum Defer Period none', () => {
  assert.equal(deliveryMethodEvent({ deliveryMethod: [2], protocolSupport: [0, 3], deviceState: [1], maxDeferPeriod: [600] }),
    { type: 'deliveryMethod', value: 2, protocols: [0, 3], deviceState: 1, maxDeferPeriod: 600 });
  assert.equal(deliveryMethodEvent({ deliveryMethod: null, protocolSupport: null, deviceState: null }),
    { type: 'deliveryMethod', value: null, protocols: null, deviceState: null, maxDeferPeriod: null });
  assert.is(deliveryMethodEvent({ deliveryMethod: [0], protocolSupport: [], deviceState: [0], maxDeferPeriod: [-1] }).maxDeferPeriod, null);
  assert.is(deliveryMethodEvent({ deliveryMethod: [0], protocolSupport: [], deviceState: [0], maxDeferPeriod: [0] }).maxDeferPeriod, 0);
  assert.equal(deliveryMethodEvent({ deliveryMethod: [0], protocolSupport: [], deviceState: [0] }).protocols, []);
});

test('Update Result (/5/0/5) is read after a pushed package the device refused, and after nothing else', () => {
  assert.equal(readAfterFailure('pushPackage', 'refused'), { path: '/5/0/5', accept: 0, multiple: false });
  assert.is(readAfterFailure('pushPackage', 'timeout'), undefined);
  assert.is(readAfterFailure('pushPackage', undefined), undefined);
  assert.is(readAfterFailure('writePackageUri', 'refused'), undefined);
  assert.is(readAfterFailure('executeUpdate', 'refused'), undefined);
});

test.run();
