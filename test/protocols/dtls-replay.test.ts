// The anti-replay window (RFC 6347 §4.1.2.6, 64 records): in order, reordered within the window,
// older than it, duplicates, jumps ahead; check() never moves it, only accept() does; and a model
// of the section's rule (new and not left of the window) against random traffic.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPLAY_WINDOW_SIZE, ReplayWindow } from '../../protocols/dtls-replay.ts';
import { seededBytes } from './_helpers.ts';

/** check, then accept what passed; returns what check said. */
function receive(w: ReplayWindow, seq: number): boolean {
  const fresh = w.check(seq);
  if (fresh) w.accept(seq);
  return fresh;
}

test('in order from 0: each is new once', () => {
  const w = new ReplayWindow();
  assert.is(w.highest, -1);
  for (let s = 0; s < 200; s++) {
    assert.ok(receive(w, s), `seq ${s}`);
    assert.not.ok(w.check(s), `seq ${s} again`);
  }
  assert.is(w.highest, 199);
});

test('the first record may have any number, and the window starts there', () => {
  const w = new ReplayWindow();
  assert.ok(receive(w, 1000));
  assert.ok(w.check(1000 - 63));
  assert.not.ok(w.check(1000 - 64));
});

test('reordered within 64: late records are new once, then duplicates', () => {
  const w = new ReplayWindow();
  for (const s of [0, 5, 3, 63, 1, 2, 64, 4]) assert.ok(receive(w, s), `seq ${s}`);
  for (const s of [0, 1, 2, 3, 4, 5, 63, 64]) assert.not.ok(w.check(s), `seq ${s} again`);
  assert.ok(w.check(6));
  assert.ok(w.check(62));
});

test('the left edge: right - 63 is in the window, right - 64 is older than it', () => {
  const w = new ReplayWindow();
  receive(w, 100);
  assert.ok(w.check(100 - (REPLAY_WINDOW_SIZE - 1)));
  assert.not.ok(w.check(100 - REPLAY_WINDOW_SIZE));
  assert.not.ok(w.check(0));
  // accept() of a number left of the window changes nothing.
  w.accept(10);
  assert.is(w.highest, 100);
  assert.ok(w.check(99));
});

test('jumps ahead: by 1, by 63, by 64, by more; what was seen stays seen while in the window', () => {
  const w = new ReplayWindow();
  receive(w, 10);
  receive(w, 8);
  assert.ok(receive(w, 11));
  assert.ok(receive(w, 11 + 63)); // 74: 11 is at the left edge now
  assert.not.ok(w.check(11));
  assert.ok(w.check(12));
  assert.not.ok(w.check(10), '10 fell off the left edge');
  assert.ok(receive(w, 74 + 64)); // 138: the whole window moved on
  assert.not.ok(w.check(74), '74 fell off the left edge');
  assert.ok(w.check(75));
  assert.ok(receive(w, 2 ** 40)); // far ahead
  assert.not.ok(w.check(138));
  assert.ok(w.check(2 ** 40 - 1));
  assert.not.ok(w.check(2 ** 40));
});

test('check alone never moves the window: a record that fails authentication is not accepted', () => {
  const w = new ReplayWindow();
  receive(w, 5);
  assert.ok(w.check(500));
  assert.is(w.highest, 5);
  assert.ok(w.check(4));
  assert.ok(receive(w, 4));
});

test('the top of the uint48 range, and numbers that are not sequence numbers', () => {
  const w = new ReplayWindow();
  assert.ok(receive(w, 2 ** 48 - 1));
  assert.not.ok(w.check(2 ** 48 - 1));
  assert.ok(receive(w, 2 ** 48 - 2));
  for (const bad of [-1, 2 ** 48, 1.5, Number.NaN]) {
    assert.throws(() => w.check(bad), (e: unknown) => e instanceof RangeError);
    assert.throws(() => w.accept(bad), (e: unknown) => e instanceof RangeError);
  }
});

test('random traffic against the rule of §4.1.2.6: new and not left of a 64-record window', () => {
  const random = seededBytes(0x64);
  for (let round = 0; round < 50; round++) {
    const w = new ReplayWindow();
    const seen = new Set<number>();
    let right = -1;
    let base = round * 1000;
    for (let i = 0; i < 2000; i++) {
      const [a, b] = [random(1)[0]!, random(1)[0]!];
      if (a < 8) base += b * 4; // now and then a jump ahead
      const seq = Math.max(0, base + b - 128);
      const expected = seq > right || (right - seq < 64 && !seen.has(seq));
      assert.is(w.check(seq), expected, `round ${round}, seq ${seq}, right ${right}`);
      // Most records authenticate; some do not, and leave the window as it was.
      if (expected && a % 10 !== 0) {
        w.accept(seq);
        seen.add(seq);
        right = Math.max(right, seq);
      }
      base += 1;
    }
  }
});

test.run();
