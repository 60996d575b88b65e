/**
 * A CoAP message (RFC 7252 §3) as fields the fuzzer can bend one at a time: version, type, a
 * token length that may disagree with the token, the code, options by delta with any nibble form
 * (§3.1: 13 and 14 announce one or two more bytes, 15 is reserved) and lengths that lie, a
 * payload marker with or without a payload.
 */
import fc from 'fast-check';
import { concat, interestingInt } from './mutate.ts';

export interface CoapOptionAst {
  delta: number;
  value: Uint8Array;
  /** Nibble form of the delta: undefined = the shortest; 13, 14 force an extended form; 15 is reserved. */
  deltaForm?: 13 | 14 | 15;
  lengthForm?: 13 | 14 | 15;
  /** Added to the length written. */
  lie?: number;
}

export interface CoapAst {
  version: number;
  type: number;
  /** Written in the token-length nibble; undefined = the token's length. */
  tkl?: number;
  code: number;
  mid: number;
  token: Uint8Array;
  options: CoapOptionAst[];
  /** undefined: no marker; an empty array: a marker with nothing after it. */
  payload?: Uint8Array;
}

function nibble(value: number, form: 13 | 14 | 15 | undefined): { n: number; ext: number[] } {
  const f = form ?? (value < 13 ? undefined : value < 269 ? 13 : 14);
  if (f === undefined) return { n: value, ext: [] };
  if (f === 15) return { n: 15, ext: [] };
  if (f === 13) return { n: 13, ext: [(value - 13) & 0xff] };
  const v = (value - 269) & 0xffff;
  return { n: 14, ext: [v >> 8, v & 0xff] };
}

export function encodeCoapAst(m: CoapAst): Uint8Array {
  const tkl = m.tkl ?? m.token.length;
  const parts: Uint8Array[] = [Uint8Array.of(((m.version & 3) << 6) | ((m.type & 3) << 4) | (tkl & 0x0f), m.code & 0xff, (m.mid >> 8) & 0xff, m.mid & 0xff), m.token];
  for (const o of m.options) {
    const d = nibble(o.delta, o.deltaForm);
    const l = nibble(Math.max(0, o.value.length + (o.lie ?? 0)), o.lengthForm);
    parts.push(Uint8Array.of((d.n << 4) | l.n, ...d.ext, ...l.ext), o.value);
  }
  if (m.payload) parts.push(Uint8Array.of(0xff), m.payload);
  return concat(...parts);
}

/** Option numbers (RFC 7252 §12.2, RFC 7641, RFC 7959, RFC 9175) and some no one registered. */
const NUMBERS = [1, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 17, 20, 23, 27, 28, 35, 39, 60, 252, 258, 2048, 65000, 65535];
const CODES = [0x01, 0x02, 0x03, 0x04, 0x05, 0x00, 0x41, 0x44, 0x45, 0x84, 0x80, 0xa0, 0xe0, 0xff];

/** A well-formed message: sorted option numbers, values of every length form, an optional payload. */
export const coapMessageArb: fc.Arbitrary<CoapAst> = fc.record({
  version: fc.constant(1),
  type: fc.integer({ min: 0, max: 3 }),
  code: fc.oneof(fc.constantFrom(...CODES), fc.integer({ min: 1, max: 255 })),
  mid: fc.integer({ min: 0, max: 0xffff }),
  token: fc.uint8Array({ maxLength: 8 }),
  numbers: fc.array(fc.oneof(fc.constantFrom(...NUMBERS), fc.integer({ min: 0, max: 70_000 })), { maxLength: 6 }),
  values: fc.array(fc.oneof(fc.uint8Array({ maxLength: 4 }), fc.constantFrom(new Uint8Array(12), new Uint8Array(13), new Uint8Array(268), new Uint8Array(269), new Uint8Array(300))), { minLength: 6, maxLength: 6 }),
  payload: fc.option(fc.uint8Array({ minLength: 1, maxLength: 24 }), { nil: undefined }),
}).map(({ numbers, values, ...m }) => {
  const sorted = [...numbers].sort((a, b) => a - b);
  let last = 0;
  const options = sorted.map((n, i) => { const delta = n - last; last = n; return { delta, value: values[i]! }; });
  return { ...m, code: m.code === 0 ? 0x01 : m.code, options, ...(m.payload ? { payload: m.payload } : {}) };
});

export type CoapOp =
  | { k: 'version'; v: number }
  | { k: 'tkl'; v: number }
  | { k: 'code'; v: number }
  | { k: 'deltaForm'; at: number; form: 13 | 14 | 15 }
  | { k: 'lengthForm'; at: number; form: 13 | 14 | 15 }
  | { k: 'lie'; at: number; lie: number }
  | { k: 'delta'; at: number; delta: number }
  | { k: 'repeat'; at: number; times: number }
  | { k: 'marker' };

export const coapOp: fc.Arbitrary<CoapOp> = fc.oneof(
  fc.record({ k: fc.constant('version' as const), v: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ k: fc.constant('tkl' as const), v: fc.integer({ min: 0, max: 15 }) }),
  fc.record({ k: fc.constant('code' as const), v: fc.constantFrom(0, 0xe0, 0xff, 0x20) }),
  fc.record({ k: fc.constant('deltaForm' as const), at: fc.nat(), form: fc.constantFrom(13 as const, 14 as const, 15 as const) }),
  fc.record({ k: fc.constant('lengthForm' as const), at: fc.nat(), form: fc.constantFrom(13 as const, 14 as const, 15 as const) }),
  fc.record({ k: fc.constant('lie' as const), at: fc.nat(), lie: fc.constantFrom(-1, 1, 2, 100, 65535) }),
  fc.record({ k: fc.constant('delta' as const), at: fc.nat(), delta: fc.oneof(interestingInt.map((v) => Number(v & 0xffffn)), fc.constantFrom(12, 13, 268, 269, 65535, 65804)) }),
  fc.record({ k: fc.constant('repeat' as const), at: fc.nat(), times: fc.constantFrom(2, 20, 3000) }),
  fc.record({ k: fc.constant('marker' as const) }),
);

export function applyCoapOps(m: CoapAst, ops: readonly CoapOp[]): CoapAst {
  let out: CoapAst = { ...m, options: [...m.options] };
  for (const op of ops) {
    const i = out.options.length === 0 ? -1 : ('at' in op ? op.at % out.options.length : 0);
    const set = (patch: Partial<CoapOptionAst>): void => { if (i >= 0) out.options[i] = { ...out.options[i]!, ...patch }; };
    switch (op.k) {
      case 'version': out = { ...out, version: op.v }; break;
      case 'tkl': out = { ...out, tkl: op.v }; break;
      case 'code': out = { ...out, code: op.v }; break;
      case 'deltaForm': set({ deltaForm: op.form }); break;
      case 'lengthForm': set({ lengthForm: op.form }); break;
      case 'lie': set({ lie: op.lie }); break;
      case 'delta': set({ delta: op.delta }); break;
      case 'repeat': if (i >= 0) out.options.splice(i + 1, 0, ...Array.from({ length: op.times }, () => ({ ...out.options[i]!, delta: 0 }))); break;
      case 'marker': out = { ...out, payload: new Uint8Array(0) }; break;
    }
  }
  return out;
}
