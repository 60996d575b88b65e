// Which update transitions raise an alert (pure, table-driven): failed on timeout → update.stalled;
// failed with Update Result 5 (LwM2M Object 5 /5/0/5, pulled or pushed) → update.integrity; nothing else.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { updateAlert } from '../../../server/alerts/update-alerts.ts';
import type { UpdateEvent } from '../../../server/fota/decide.ts';
import type { UpdateState } from '../../../server/fota/model.ts';
import type { DeviceUpdate } from '../../../server/store/rows.ts';

const update = (state: UpdateState, resultCode: number | null, delivery: 'pull' | 'push' | null = 'pull'): DeviceUpdate => ({
  id: 9, deviceId: 4, firmwareId: 2, state, resultCode, reason: 'r', reportedVersion: null, versionMismatch: false, delivery,
  createdAt: new Date(0), updatedAt: new Date(0), deadline: null, finishedAt: null, campaignId: null, requestedDelivery: null, severity: null, maxDeferSeconds: null, fromVersion: null, fromFirmwareId: null,
});

const CASES: Array<[string, DeviceUpdate, UpdateState, UpdateEvent, string | undefined]> = [
  ['timeout while queued', update('failed', null, null), 'queued', { type: 'timeout' }, 'update.stalled'],
  ['timeout while downloading', update('failed', null), 'downloading', { type: 'timeout' }, 'update.stalled'],
  ['Update Result 5 notified (pull)', update('failed', 5), 'downloading', { type: 'result', value: 5 }, 'update.integrity'],
  ['push refused with Update Result 5', update('failed', 5, 'push'), 'sent', { type: 'commandFailed', command: 'pushPackage', reason: '4.00', resultCode: 5 }, 'update.integrity'],
  ['Update Result 2 (not enough flash)', update('failed', 2), 'downloading', { type: 'result', value: 2 }, undefined],
  ['Update Result 8 (update failed)', update('failed', 8), 'updating', { type: 'result', value: 8 }, undefined],
  ['a command that failed without a result', update('failed', null), 'queued', { type: 'commandFailed', command: 'observe', reason: 'timeout' }, undefined],
  ['success', update('succeeded', 1), 'updating', { type: 'firmwareVersion', value: '2.0.0' }, undefined],
  ['a move that is not final', update('downloading', null), 'sent', { type: 'state', value: 1 }, undefined],
];

for (const [what, moved, from, event, kind] of CASES) {
  test(what, () => {
    const a = updateAlert(moved, from, event, 600);
    assert.is(a?.kind, kind);
    if (a === undefined) return;
    assert.is(a.deviceId, 4);
    assert.is(a.updateId, 9);
    assert.equal((a.data as Record<string, unknown>)['from'], from);
    assert.equal((a.data as Record<string, unknown>)['delivery'], moved.delivery);
  });
}

test('the stalled alert names the timeout', () => {
  const a = updateAlert(update('failed', null), 'sent', { type: 'timeout' }, 600)!;
  assert.is(a.message, 'update 9 stalled in sent: the device was silent for 600 s');
  assert.is((a.data as Record<string, unknown>)['timeoutSeconds'], 600);
});

test.run();
