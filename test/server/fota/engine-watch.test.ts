// The update engine against an in-memory Object 5 device, on a real database: what happens to an
// update under way when it is called off, goes quiet, or overdue (the watchdog's sweep), and to one
// that another process started (taken up by a poke). Each case drives one update to a point, does
// one thing, and says the update's state, its events and the requests the device saw meanwhile.
import type { DeviceActivity } from '../../../server/fota/activity.ts';
import * as assert from 'uvu/assert';
import type { UpdateEngine } from '../../../server/fota/engine.ts';
import type { UpdateState } from '../../../server/fota/model.ts';
import type { Db } from '../../../server/store/db.ts';
import { getUpdate } from '../../../server/store/updates.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import type { Object5Device } from '../../helpers/object5-device.ts';
import { ADDRESS, bench, deadlineAhead, ENDPOINT, engineOn, eventsOf, overdue, quietFor, type Setup } from './engine-kit.ts';

interface World {
  db: Db;
  engine: UpdateEngine;
  activity: DeviceActivity;
  device: Object5Device;
  updateId: number;
}

interface Case {
  name: string;
  setup?: Setup;
  /** Where the update is before `act`: queued (the device de-registered), sent (not downloading yet), or downloading. */
  at: 'queued' | 'sent' | 'downloading';
  act: (w: World) => Promise<void>;
  state: UpdateState;
  /** The device's requests during `act`. */
  requests: string[];
  /** The events recorded during `act`. */
  events: string[];
  /** The deadline lies ahead afterwards (moved on, or just set). */
  deadlineAhead?: boolean;
}

const cancel = (w: World) => { w.engine.cancelUpdate(w.updateId, 'campaign aborted'); return w.engine.idle(); };
const sweep = (w: World) => w.engine.sweep().then(() => w.engine.idle());

const cases: Case[] = [
  {
    name: 'cancel, queued: off at once, nothing sent',
    setup: { registered: false }, at: 'queued', act: cancel,
    state: 'cancelled', requests: [], events: ['cancelled (on cancel)'],
  },
  {
    name: 'cancel, downloading, Object 5 1.1: Cancel (/5/0/10) executed',
    setup: { object5: '1.1' }, at: 'downloading', act: cancel,
    state: 'cancelled', requests: ['EXECUTE /5/0/10'], events: ['cancelled (on cancelled)'],
  },
  {
    name: 'cancel, downloading, Object 5 1.0 (no Cancel): it goes on',
    at: 'downloading', act: cancel, state: 'downloading', requests: [], events: [],
  },
  {
    name: 'cancel refused by the device: it goes on',
    setup: { object5: '1.1' }, at: 'downloading',
    act: (w) => { w.device.fail('EXECUTE /5/0/10', 'refused', '4.05'); return cancel(w); },
    state: 'downloading', requests: ['EXECUTE /5/0/10 → 4.05'], events: [],
  },
  {
    name: 'quiet, followed by this process: poked, State and Update Result read, no change',
    at: 'downloading', act: async (w) => { await quietFor(w.db, w.updateId); await sweep(w); },
    state: 'downloading', requests: ['READ /5/0/3', 'READ /5/0/5'], events: [],
  },
  {
    name: 'quiet, followed by nobody (another process started it): the poke takes it up, and it goes on to the end',
    at: 'downloading',
    act: async (w) => {
      await quietFor(w.db, w.updateId);
      const other = engineOn(w.db, w.device);
      await other.sweep();
      await other.idle();
      w.device.finishDownload(); // notified to the engine that took the update up
      await other.idle();
    },
    state: 'succeeded', requests: ['READ /5/0/3', 'READ /5/0/5', 'OBSERVE /5/0/3', 'OBSERVE /5/0/5', 'EXECUTE /5/0/2', 'READ /3/0/3'],
    events: ['downloaded (on state)', 'updating (on executed)', 'succeeded (on firmwareVersion)'],
  },
  {
    name: 'quiet, followed by nobody, the device silent: nothing changes, nothing taken up',
    at: 'downloading',
    act: async (w) => {
      await quietFor(w.db, w.updateId);
      w.device.silent('READ /5/0/3');
      const other = engineOn(w.db, w.device);
      await other.sweep();
      await other.idle();
    },
    state: 'downloading', requests: ['READ /5/0/3 → timeout'], events: [],
  },
  {
    name: 'overdue, the device silent: the sweep times it out',
    at: 'sent', act: async (w) => { await overdue(w.db, w.updateId); await sweep(w); },
    state: 'failed', requests: [], events: ['failed (on timeout)'],
  },
  {
    name: 'overdue, the device still talking: the deadline moves on and it is poked',
    at: 'downloading',
    act: async (w) => { await overdue(w.db, w.updateId); w.activity.heard(ADDRESS.address, ADDRESS.port); await sweep(w); },
    state: 'downloading', requests: ['READ /5/0/3', 'READ /5/0/5'], events: [], deadlineAhead: true,
  },
  {
    name: 'overdue, a queue-mode device asleep with requests held for it: not timed out, the deadline moves on',
    setup: { queueMode: true }, at: 'sent',
    act: async (w) => { w.device.held = 2; await overdue(w.db, w.updateId); await sweep(w); },
    state: 'sent', requests: [], events: [], deadlineAhead: true,
  },
  {
    name: 'overdue, a queue-mode device with nothing held: timed out',
    setup: { queueMode: true }, at: 'sent',
    act: async (w) => { await overdue(w.db, w.updateId); await sweep(w); },
    state: 'failed', requests: [], events: ['failed (on timeout)'],
  },
];

forEachDatabase('fota/engine: cancel, poke, timeout', ({ suite, get }) => {
  for (const c of cases) {
    suite(c.name, async () => {
      const { db } = get();
      const { engine, device, image, activity } = await bench(db, { ...c.setup, device: { downloads: false, ...c.setup?.device } });
      const { id: updateId } = await engine.requestUpdate(ENDPOINT, image.id);
      await engine.idle();
      if (c.at === 'downloading') {
        device.startDownload();
        await engine.idle();
      }
      assert.is((await getUpdate(db, updateId))?.state, c.at, 'before');
      const requestsBefore = device.requests.length;
      const eventsBefore = (await eventsOf(db, updateId)).length;

      await c.act({ db, engine, activity, device, updateId });

      assert.is((await getUpdate(db, updateId))?.state, c.state);
      assert.equal(device.requests.slice(requestsBefore), c.requests);
      assert.equal((await eventsOf(db, updateId)).slice(eventsBefore), c.events);
      if (c.deadlineAhead !== undefined) assert.is(await deadlineAhead(db, updateId), c.deadlineAhead, 'deadline ahead');
    });
  }
});
