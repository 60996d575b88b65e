// The update engine's pure decisions, table-driven: (server state, event) → next state, commands.
// Device states and result codes are LwM2M Object 5's (/5/0/3 State, /5/0/5 Update Result).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decide, type UpdateEvent } from '../../../server/fota/decide.ts';
import type { UpdateState } from '../../../server/store/rows.ts';

const V = '2.0.0';
type Row = [UpdateState, UpdateEvent, UpdateState | undefined, string[]];

const rows: Row[] = [
  // start: observe first so no notification is missed, then write the Package URI
  ['queued', { type: 'registered' }, undefined, ['observe', 'writePackageUri']],
  ['queued', { type: 'written' }, 'sent', []],
  ['queued', { type: 'result', value: 1 }, undefined, []],          // the previous update's result
  ['queued', { type: 'state', value: 1 }, undefined, []],
  ['sent', { type: 'result', value: 1 }, undefined, []],            // still the previous result
  ['sent', { type: 'state', value: 1 }, 'downloading', []],
  ['sent', { type: 'state', value: 2 }, 'downloaded', ['executeUpdate']], // Downloading notification lost
  ['downloading', { type: 'state', value: 2 }, 'downloaded', ['executeUpdate']],
  ['downloading', { type: 'state', value: 1 }, undefined, []],
  ['downloaded', { type: 'executed' }, 'updating', []],
  ['downloaded', { type: 'state', value: 3 }, 'updating', []],
  ['updating', { type: 'registered' }, undefined, ['observe', 'readResult']], // rebooted: observe again
  ['updating', { type: 'result', value: 1 }, undefined, ['readFirmwareVersion']],
  ['updating', { type: 'firmwareVersion', value: V }, 'succeeded', []],
  ['updating', { type: 'firmwareVersion', value: '1.9.9' }, 'succeeded', []],
  ['downloading', { type: 'result', value: 5 }, 'failed', []],       // integrity check failure
  ['downloading', { type: 'result', value: 4 }, 'failed', []],       // connection lost
  ['updating', { type: 'result', value: 8 }, 'failed', []],          // update failed
  ['sent', { type: 'result', value: 0 }, undefined, []],
  ['downloading', { type: 'registered' }, undefined, ['observe', 'readResult']],
  ['sent', { type: 'timeout' }, 'failed', []],
  ['sent', { type: 'commandFailed', command: 'writePackageUri', reason: 'x' }, 'failed', []],
  ['succeeded', { type: 'timeout' }, undefined, []],
  ['failed', { type: 'registered' }, undefined, []],
  ['cancelled', { type: 'state', value: 2 }, undefined, []],
];

for (const [state, event, to, commands] of rows) {
  test(`${state} + ${event.type}${'value' in event ? `=${event.value}` : ''} → ${to ?? '(stays)'} [${commands.join(', ')}]`, () => {
    const d = decide(state, event, V);
    assert.is(d.to, to);
    assert.equal(d.commands.map((c) => c.type), commands);
  });
}

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

test('a timeout names its reason', () => {
  assert.match(decide('downloading', { type: 'timeout' }, V).reason ?? '', /timeout/);
});

test.run();
