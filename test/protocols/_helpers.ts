/** Shared assertions for the protocols tests (not a test file itself). */
import * as assert from 'uvu/assert';
import { DecodeError } from '../../protocols/errors.ts';

/** Bytes from a hex string, spaces allowed: hex('C8 00 14'). */
export function hex(text: string): Buffer {
  const clean = text.replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`bad hex in test: ${text}`);
  return Buffer.from(clean, 'hex');
}

/** Bytes from a layout written field by field, one per line, each line's `//` comment dropped. */
export function hexLayout(text: string): Buffer {
  return hex(text.split('\n').map((line) => line.replace(/\/\/.*$/, '')).join(' '));
}

/** Asserts that fn throws a DecodeError with this code (and nothing else: no RangeError, no TypeError). */
export function throwsDecodeError(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof DecodeError)) {
      assert.unreachable(`expected DecodeError ${code}, got ${String(e)}`);
      return;
    }
    assert.is(e.code, code, `expected code ${code}, got ${e.code} (${e.reason})`);
    assert.type(e.reason, 'string');
    return;
  }
  assert.unreachable(`expected DecodeError ${code}, nothing was thrown`);
}

/** Asserts that fn either returns or throws a DecodeError (for fuzzing hostile input). */
export function returnsOrDecodeError(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof DecodeError)) assert.unreachable(`expected a value or a DecodeError, got ${String(e)}`);
  }
}

/** Deterministic pseudo-random bytes (xorshift32), so fuzz runs replay exactly. */
export function seededBytes(seed: number): (length: number) => Buffer {
  let s = seed >>> 0 || 1;
  return (length: number) => {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      out[i] = s & 0xff;
    }
    return out;
  };
}
