// The update engine against an in-memory Object 5 device behind its device port, on a real
// database: one update from request to its end, pulled or pushed. Each case says what the device
// is like, and the update's end, its recorded events and the requests the device saw, in order.
import * as assert from 'uvu/assert';
import { getUpdate } from '../../../server/store/updates.ts';
import * as devices from '../../../server/store/devices.ts';
import type { UpdateRequest } from '../../../server/fota/engine.ts';
import type { UpdateState } from '../../../server/fota/model.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import type { Object5Device } from '../../helpers/object5-device.ts';
import { bench, DOWNLOAD_BASE, DOWNLOAD_NAME, ENDPOINT, eventsOf, PACKAGE, SECURE_DOWNLOAD_BASE, type Setup } from './engine-kit.ts';

const URI = `WRITE /5/0/1 "${DOWNLOAD_BASE}/fw/${DOWNLOAD_NAME}"`;
const PUSH = `WRITE /5/0/0 [${PACKAGE.length} bytes]`;
const START = ['OBSERVE /5/0/3', 'OBSERVE /5/0/5', 'READ /5/0/9', 'READ /5/0/8', 'READ /5/0/3'];
const START_V11 = [...START, 'READ /5/0/13 → 4.04'];
const INSTALL = ['EXECUTE /5/0/2', 'READ /3/0/3'];
const PULLED = ['created', 'delivery pull', 'sent (on written)', 'downloading (on state)', 'downloaded (on state)', 'updating (on executed)', 'succeeded (on firmwareVersion)'];

interface Case {
  name: string;
  setup?: Setup;
  request?: UpdateRequest;
  /** What the device is told before the update starts. */
  before?: (d: Object5Device) => void;
  state: UpdateState;
  requests: string[];
  events: string[];
  /** The update row's result code, reason (a pattern), reported version, mismatch flag, deferral; as far as given. */
  row?: { resultCode?: number | null; reason?: RegExp | null; reportedVersion?: string | null; versionMismatch?: boolean; maxDeferSeconds?: number | null };
  /** The device's /3/0/3 in the inventory afterwards. */
  inventoryVersion?: string;
}

const cases: Case[] = [
  {
    name: 'pull: Package URI, Downloading, Downloaded, Update, the new version read back',
    state: 'succeeded', requests: [...START, URI, ...INSTALL], events: PULLED,
    row: { resultCode: 1, reason: null, reportedVersion: '2.0.0', versionMismatch: false }, inventoryVersion: '2.0.0',
  },
  {
    name: 'pull by a device registered over DTLS: a coaps:// Package URI, by the image\'s name',
    setup: { secure: true },
    state: 'succeeded', requests: [...START, `WRITE /5/0/1 "${SECURE_DOWNLOAD_BASE}/fw/${DOWNLOAD_NAME}"`, ...INSTALL], events: PULLED,
  },
  {
    name: 'pull, a device without Delivery Method or Protocol Support (Object 5 1.0)',
    setup: { device: { deliveryMethod: null, protocolSupport: null } },
    state: 'succeeded', requests: ['OBSERVE /5/0/3', 'OBSERVE /5/0/5', 'READ /5/0/9 → 4.04', 'READ /5/0/8 → 4.04', 'READ /5/0/3', URI, ...INSTALL], events: PULLED,
  },
  {
    name: 'push: /5/0/0 block-wise, then State read (Downloaded), Update',
    setup: { device: { deliveryMethod: 1 } },
    state: 'succeeded', requests: [...START, PUSH, 'READ /5/0/3', 'READ /5/0/5', ...INSTALL],
    events: ['created', 'delivery push', 'sent (on deliveryMethod)', 'downloaded (on state)', 'updating (on executed)', 'succeeded (on firmwareVersion)'],
    row: { resultCode: 1, reportedVersion: '2.0.0', versionMismatch: false },
  },
  {
    name: 'push refused: Update Result read after it, and kept',
    setup: { device: { deliveryMethod: 1, refusesPackage: 5 } },
    state: 'failed', requests: [...START, `${PUSH} → 4.00`, 'READ /5/0/5'],
    events: ['created', 'delivery push', 'sent (on deliveryMethod)', 'failed (on commandFailed)'],
    row: { resultCode: 5, reason: /^pushPackage failed: device answered 4\.00 \(Update Result 5: integrity check failure\)$/ },
  },
  {
    name: 'push refused, Update Result unanswered: the failure without it',
    setup: { device: { deliveryMethod: 1, refusesPackage: 5 } },
    before: (d) => d.silent('READ /5/0/5'),
    state: 'failed', requests: [...START, `${PUSH} → 4.00`, 'READ /5/0/5 → timeout'],
    events: ['created', 'delivery push', 'sent (on deliveryMethod)', 'failed (on commandFailed)'],
    row: { resultCode: null, reason: /^pushPackage failed: device answered 4\.00$/ },
  },
  {
    name: 'push timed out: no Update Result read',
    setup: { device: { deliveryMethod: 1 } },
    before: (d) => d.silent('WRITE /5/0/0'),
    state: 'failed', requests: [...START, `${PUSH} → timeout`],
    events: ['created', 'delivery push', 'sent (on deliveryMethod)', 'failed (on commandFailed)'],
    row: { resultCode: null, reason: /^pushPackage failed: no response/ },
  },
  {
    name: 'a device still Downloading from an earlier try: the Package URI reset first',
    setup: { device: { state: 1 } },
    state: 'succeeded', requests: [...START, 'WRITE /5/0/1 ""', URI, ...INSTALL], events: PULLED,
  },
  {
    name: 'a device still Downloaded from an earlier try, pushed to: reset first',
    setup: { device: { state: 2, deliveryMethod: 1 } },
    state: 'succeeded', requests: [...START, 'WRITE /5/0/1 ""', PUSH, 'READ /5/0/3', 'READ /5/0/5', ...INSTALL],
    events: ['created', 'delivery push', 'sent (on deliveryMethod)', 'downloaded (on state)', 'updating (on executed)', 'succeeded (on firmwareVersion)'],
  },
  {
    name: 'Severity to an Object 5 1.1 device, before the package; Maximum Defer Period read',
    setup: { object5: '1.1', device: { maxDeferPeriod: 600 } },
    request: { severity: 1 },
    state: 'succeeded', requests: [...START, 'READ /5/0/13', 'WRITE /5/0/11 "1"', URI, ...INSTALL], events: PULLED,
    row: { maxDeferSeconds: 600 },
  },
  {
    name: 'Severity 0 (critical) to an Object 5 1.1 device, which has no Maximum Defer Period',
    setup: { object5: '1.1' }, request: { severity: 0 },
    state: 'succeeded', requests: [...START_V11, 'WRITE /5/0/11 "0"', URI, ...INSTALL], events: PULLED, row: { maxDeferSeconds: null },
  },
  {
    name: 'a negative Maximum Defer Period is none',
    setup: { object5: '1.1', device: { maxDeferPeriod: -1 } },
    state: 'succeeded', requests: [...START, 'READ /5/0/13', URI, ...INSTALL], events: PULLED, row: { maxDeferSeconds: null },
  },
  {
    name: 'no Severity asked for: none written, Object 5 1.1 or not',
    setup: { object5: '1.1' },
    state: 'succeeded', requests: [...START_V11, URI, ...INSTALL], events: PULLED,
  },
  {
    name: 'no Severity to an Object 5 1.0 device, nor a Maximum Defer Period read',
    setup: { device: { maxDeferPeriod: 600 } }, request: { severity: 1 },
    state: 'succeeded', requests: [...START, URI, ...INSTALL], events: PULLED, row: { maxDeferSeconds: null },
  },
  {
    name: 'a Severity the device refuses: advisory, the package still goes',
    setup: { object5: '1.1' }, request: { severity: 2 },
    before: (d) => d.fail('WRITE /5/0/11', 'refused', '4.05'),
    state: 'succeeded', requests: [...START_V11, 'WRITE /5/0/11 "2" → 4.05', URI, ...INSTALL], events: PULLED,
  },
  {
    name: 'a campaign\'s delivery policy: push to a device that takes both',
    setup: { device: { deliveryMethod: 2 } }, request: { delivery: 'push' },
    state: 'succeeded', requests: [...START, PUSH, 'READ /5/0/3', 'READ /5/0/5', ...INSTALL],
    events: ['created', 'delivery push', 'sent (on deliveryMethod)', 'downloaded (on state)', 'updating (on executed)', 'succeeded (on firmwareVersion)'],
  },
  {
    name: 'version mismatch: the device runs another version than the image\'s',
    setup: { device: { installs: '1.9.9' } },
    state: 'succeeded', requests: [...START, URI, ...INSTALL], events: PULLED,
    row: { resultCode: 1, reportedVersion: '1.9.9', versionMismatch: true, reason: /device reports firmware version 1\.9\.9, image is 2\.0\.0/ },
    inventoryVersion: '1.9.9',
  },
  {
    name: '/3/0/3 unreadable after the update: succeeded, and says so',
    before: (d) => d.silent('READ /3/0/3'),
    state: 'succeeded', requests: [...START, URI, 'EXECUTE /5/0/2', 'READ /3/0/3 → timeout'], events: PULLED,
    row: { resultCode: 1, reportedVersion: null, versionMismatch: false, reason: /unreadable/ }, inventoryVersion: '1.0.0',
  },
  {
    name: 'the Package URI refused',
    before: (d) => d.fail('WRITE /5/0/1', 'refused', '4.00'),
    state: 'failed', requests: [...START, `${URI} → 4.00`],
    events: ['created', 'delivery pull', 'failed (on commandFailed)'], row: { reason: /^writePackageUri failed: device answered 4\.00$/ },
  },
  {
    name: 'a pull-only device that pulls over HTTPS only: refused before anything is written',
    setup: { device: { deliveryMethod: 0, protocolSupport: [3] } },
    state: 'failed', requests: START, events: ['created', 'failed (on deliveryMethod)'], row: { reason: /Ferry serves firmware over CoAP/ },
  },
];

forEachDatabase('fota/engine', ({ suite, get }) => {
  for (const c of cases) {
    suite(c.name, async () => {
      const { db } = get();
      const { engine, device, image } = await bench(db, c.setup);
      c.before?.(device);
      const requested = await engine.requestUpdate(ENDPOINT, image.id, c.request);
      await engine.idle();
      const update = await getUpdate(db, requested.id);
      assert.is(update?.state, c.state);
      assert.equal(device.requests, c.requests);
      assert.equal(await eventsOf(db, requested.id), c.events);
      for (const [key, expected] of Object.entries(c.row ?? {})) {
        const actual = update?.[key as keyof typeof update];
        if (expected instanceof RegExp) assert.match(String(actual), expected, key);
        else assert.equal(actual, expected, key);
      }
      if (c.inventoryVersion !== undefined) assert.is((await devices.findByEndpoint(db, ENDPOINT))?.firmwareVersion, c.inventoryVersion);
    });
  }
});
