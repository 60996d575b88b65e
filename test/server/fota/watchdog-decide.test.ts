// The update watchdog's pure decisions, table-driven: (an update gone quiet or overdue, what is
// known of its device) → poke, time out, move the deadline on, or nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { overdueActions, pokeAfterSeconds, quietActions, type Watched, type WatchState } from '../../../server/fota/watchdog-decide.ts';

const NOW = 1_700_000_000_000;
const QUIET_S = 30;
const TIMEOUT_S = 120;
const s = (n: number) => n * 1000;

const update = (o: Partial<Watched> = {}): Watched => ({
  id: 7, state: 'downloading', deadline: new Date(NOW - s(1)), endpoint: 'dev-1', address: '192.0.2.1', port: 5683,
  status: 'registered', queueMode: false, ownerNode: null, ...o,
});

interface Known {
  /** Seconds since the device was last heard from (at 192.0.2.1:5683); undefined: never. */
  heardAgo?: number;
  /** Seconds since the update was last poked; undefined: never. */
  pokedAgo?: number;
  nodeId?: string;
  followed?: boolean;
  held?: number;
}

const state = (k: Known): WatchState => ({
  now: NOW,
  activity: new Map(k.heardAgo === undefined ? [] : [['192.0.2.1:5683', NOW - s(k.heardAgo)]]),
  poked: new Map(k.pokedAgo === undefined ? [] : [[7, NOW - s(k.pokedAgo)]]),
  nodeId: k.nodeId,
  followed: new Set(k.followed ? [7] : []),
  held: new Map(k.held === undefined ? [] : [['dev-1', k.held]]),
});

type Row = [string, Partial<Watched>, Known, string[]];

const quiet: Row[] = [
  ['silent, never poked', {}, {}, ['poke']],
  ['poked within the interval', {}, { pokedAgo: QUIET_S - 1 }, []],
  ['poked an interval ago', {}, { pokedAgo: QUIET_S }, ['poke']],
  ['heard within the interval (downloading blocks)', {}, { heardAgo: QUIET_S - 1 }, []],
  ['heard longer ago', {}, { heardAgo: QUIET_S }, ['poke']],
  ['registration expired', { status: 'expired' }, {}, []],
  ['de-registered', { status: 'deregistered' }, {}, []],
  ['queue mode, asleep with requests held for it', { queueMode: true }, { held: 2 }, []],
  ['queue mode, nothing held', { queueMode: true }, { held: 0 }, ['poke']],
  ['held requests, not in queue mode', {}, { held: 1 }, ['poke']],
  ['another node holds the device, nobody here follows the update', { ownerNode: 'b' }, { nodeId: 'a' }, []],
  ['another node holds the device, this process follows the update', { ownerNode: 'b' }, { nodeId: 'a', followed: true }, ['poke']],
  ['this node holds the device', { ownerNode: 'a' }, { nodeId: 'a' }, ['poke']],
  ['no node holds the device', { ownerNode: null }, { nodeId: 'a' }, ['poke']],
  ['one node, whatever owner_node says', { ownerNode: 'b' }, {}, ['poke']],
];

const overdue: Row[] = [
  ['silent', {}, {}, ['timeout']],
  ['heard longer than a timeout ago', {}, { heardAgo: TIMEOUT_S }, ['timeout']],
  ['heard within the timeout: deadline on, and poked', {}, { heardAgo: TIMEOUT_S - 1 }, ['extendDeadline', 'poke']],
  ['queued, heard: deadline on, nothing to poke', { state: 'queued' }, { heardAgo: 1 }, ['extendDeadline']],
  ['updating, heard', { state: 'updating' }, { heardAgo: 1 }, ['extendDeadline', 'poke']],
  ['queue mode, asleep with requests held: deadline on, not poked', { queueMode: true }, { held: 1 }, ['extendDeadline']],
  ['queue mode, asleep, also heard: not poked', { queueMode: true }, { held: 1, heardAgo: 1 }, ['extendDeadline']],
  ['queue mode, nothing held, silent', { queueMode: true }, { held: 0 }, ['timeout']],
  ['queue mode, requests held, registration expired', { queueMode: true, status: 'expired' }, { held: 1 }, ['timeout']],
  ['no address', { address: null, port: null }, { heardAgo: 1 }, ['timeout']],
  ['another node\'s device, overdue for less than a timeout: that node\'s', { ownerNode: 'b' }, { nodeId: 'a' }, []],
  ['another node\'s device, overdue for a whole timeout', { ownerNode: 'b', deadline: new Date(NOW - s(TIMEOUT_S) - 1) }, { nodeId: 'a' }, ['timeout']],
  ['another node\'s device, no deadline', { ownerNode: 'b', deadline: null }, { nodeId: 'a' }, ['timeout']],
  ['this node\'s device', { ownerNode: 'a' }, { nodeId: 'a' }, ['timeout']],
];

for (const [name, row, known, expected] of quiet) {
  test(`quiet: ${name} → ${expected.join(', ') || 'nothing'}`, () => {
    const actions = quietActions([update(row)], state(known), QUIET_S);
    assert.equal(actions.map((a) => a.type), expected);
    for (const a of actions) assert.is(a.updateId, 7);
  });
}

for (const [name, row, known, expected] of overdue) {
  test(`overdue: ${name} → ${expected.join(', ') || 'nothing'}`, () => {
    const actions = overdueActions([update(row)], state(known), TIMEOUT_S);
    assert.equal(actions.map((a) => a.type), expected);
    for (const a of actions) assert.is(a.updateId, 7);
  });
}

test('several updates: their actions in the order the updates came', () => {
  const rows = [update({ id: 1 }), update({ id: 2, address: '192.0.2.2' }), update({ id: 3, state: 'queued' })];
  const known = state({ heardAgo: 1 });
  assert.equal(overdueActions(rows, known, TIMEOUT_S), [
    { type: 'extendDeadline', updateId: 1 }, { type: 'poke', updateId: 1 },
    { type: 'timeout', updateId: 2 },
    { type: 'extendDeadline', updateId: 3 },
  ]);
  assert.equal(quietActions(rows, state({}), QUIET_S), [1, 2, 3].map((id) => ({ type: 'poke', updateId: id })));
});

test('the quiet interval: as configured, else a quarter of the timeout, 5 to 60 s', () => {
  assert.is(pokeAfterSeconds(600), 60);
  assert.is(pokeAfterSeconds(120), 30);
  assert.is(pokeAfterSeconds(8), 5);
  assert.is(pokeAfterSeconds(600, 7), 7);
});

test.run();
