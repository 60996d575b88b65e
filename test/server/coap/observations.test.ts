// The shared, reference-counted observations (RFC 7641 §4.1: one per client and resource on the
// device), without a socket: the stream is a stand-in for node-coap's ObserveReadStream.
import { EventEmitter } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ObserveReadStream } from 'coap';
import { Observations, type Notification } from '../../../server/coap/observations.ts';
import { silentLogger } from '../../../server/log.ts';

class Stream extends EventEmitter {
  code = '2.05';
  options: unknown[] = [];
  closed: boolean | undefined;
  close(deregister?: boolean): void { this.closed = deregister === true; }
}

const value = (s: string): Notification => ({ code: '2.05', contentFormat: 0, payload: Buffer.from(s) });
const deferred = () => {
  let resolve!: (v: { stream: ObserveReadStream; first: Notification }) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<{ stream: ObserveReadStream; first: Notification }>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
};

test('one start for two owners; each gets the first value once, then every notification', async () => {
  const o = new Observations(silentLogger());
  const d = deferred();
  let starts = 0;
  const seen: Record<string, string[]> = { engine: [], api: [] };
  const a = o.observe('ep', '/5/0/3', 'engine', (n) => seen.engine!.push(n.payload.toString()), () => { starts++; return d.promise; });
  const b = o.observe('ep', '/5/0/3', 'api', (n) => seen.api!.push(n.payload.toString()), () => { starts++; return d.promise; });
  const stream = new Stream();
  d.resolve({ stream: stream as unknown as ObserveReadStream, first: value('0') });
  assert.equal([(await a).payload.toString(), (await b).payload.toString()], ['0', '0']);
  stream.emit('data', Buffer.from('0')); // node-coap's copy of the first response
  stream.emit('data', Buffer.from('1'));
  assert.is(starts, 1);
  assert.equal(seen, { engine: ['0', '1'], api: ['0', '1'] });
  const late: string[] = [];
  assert.is((await o.observe('ep', '/5/0/3', 'late', (n) => late.push(n.payload.toString()), () => { throw new Error('no second start'); })).payload.toString(), '1');
  assert.equal(late, ['1'], 'a later owner gets the current value');
});

test('cancel: the others keep it; the last cancel deregisters (Observe=1); unknown owner → false', async () => {
  const o = new Observations(silentLogger());
  const stream = new Stream();
  await o.observe('ep', '/p', 'engine', () => undefined, async () => ({ stream: stream as unknown as ObserveReadStream, first: value('x') }));
  await o.observe('ep', '/p', 'api', () => undefined, async () => { throw new Error('shared'); });
  assert.is(o.cancel('ep', '/p', 'api'), true);
  assert.is(stream.closed, undefined);
  assert.equal(o.owners('ep', '/p'), ['engine']);
  assert.is(o.cancel('ep', '/p', 'nobody'), false);
  assert.is(o.cancel('ep', '/p', 'engine'), true);
  assert.is(stream.closed, true, 'deregistered');
  assert.equal(o.paths('ep'), []);
});

test('cancelled or forgotten before the device answered: the late stream is closed, the waiters fail', async () => {
  const o = new Observations(silentLogger());
  const d1 = deferred();
  const first = o.observe('ep', '/a', 'api', () => undefined, () => d1.promise);
  o.cancel('ep', '/a', 'api');
  const s1 = new Stream();
  d1.resolve({ stream: s1 as unknown as ObserveReadStream, first: value('v') });
  await first.then(() => assert.unreachable('resolved'), (e: Error) => assert.match(e.message, /ended/));
  assert.is(s1.closed, true, 'the device registered it: deregister');

  const d2 = deferred();
  const pending = o.observe('ep', '/b', 'engine', () => undefined, () => d2.promise);
  const joiner = o.observe('ep', '/b', 'api', () => undefined, () => d2.promise);
  o.forget('ep');
  const s2 = new Stream();
  d2.resolve({ stream: s2 as unknown as ObserveReadStream, first: value('v') });
  for (const p of [pending, joiner]) await p.then(() => assert.unreachable('resolved'), (e: Error) => assert.match(e.message, /ended/));
  assert.is(s2.closed, false, 'a device that left is not sent a deregistration');
  assert.equal(o.endpoints(), []);
});

test('a failed start fails every waiter and leaves nothing behind', async () => {
  const o = new Observations(silentLogger());
  const d = deferred();
  const a = o.observe('ep', '/c', 'engine', () => undefined, () => d.promise);
  const b = o.observe('ep', '/c', 'api', () => undefined, () => d.promise);
  d.reject(new Error('device answered 4.04'));
  for (const p of [a, b]) await p.then(() => assert.unreachable('resolved'), (e: Error) => assert.match(e.message, /4\.04/));
  assert.equal(o.endpoints(), []);
});

test.run();
