/**
 * OMA-TLV (LwM2M 1.1 Core §7.4.3) as a tree the fuzzers can bend field by field: the type bits,
 * the identifier width (bit 5), the length type (bits 4-3) and the 3 low bits, a length that lies,
 * identifiers at their limits, entries nested where the format does not allow them.
 */
import fc from 'fast-check';
import type { Tlv } from '../../protocols/tlv.ts';
import { concat } from './mutate.ts';

export interface TlvNode {
  type: number;
  id: number;
  /** Force a 16-bit identifier (bit 5) even for IDs below 256; false forces 8 bits (the high byte is lost). */
  wide?: boolean;
  /** Length type 0–3 (bits 4-3); undefined = the shortest. */
  lengthBytes?: 0 | 1 | 2 | 3;
  /** Added to the length written (negative, or past the end). */
  lie?: number;
  /** The 3 low bits when a length field follows (the spec says they MUST be ignored). */
  low?: number;
  value?: Uint8Array;
  children?: TlvNode[];
}

export function encodeTlvAst(nodes: readonly TlvNode[]): Uint8Array {
  return concat(...nodes.map(encodeNode));
}

function encodeNode(n: TlvNode): Uint8Array {
  const body = n.children ? encodeTlvAst(n.children) : (n.value ?? new Uint8Array(0));
  const length = Math.max(0, body.length + (n.lie ?? 0));
  const wide = n.wide ?? n.id > 0xff;
  const lengthBytes = n.lengthBytes ?? (length <= 7 ? 0 : length <= 0xff ? 1 : length <= 0xffff ? 2 : 3);
  const header = [((n.type & 3) << 6) | (wide ? 0x20 : 0) | (lengthBytes << 3) | (lengthBytes === 0 ? length & 7 : (n.low ?? 0) & 7)];
  if (wide) header.push((n.id >> 8) & 0xff);
  header.push(n.id & 0xff);
  for (let i = lengthBytes - 1; i >= 0; i--) header.push(Math.floor(length / 256 ** i) & 0xff);
  return concat(Uint8Array.from(header), body);
}

/** The tree of entries a valid payload decodes to. */
export function tlvToAst(entries: readonly Tlv[]): TlvNode[] {
  return entries.map((e) => (e.children ? { type: e.type, id: e.id, children: tlvToAst(e.children) } : { type: e.type, id: e.id, value: Uint8Array.from(e.value ?? []) }));
}

/** Valid trees (object instances ⊃ resources | multiple resources ⊃ resource instances). */
export function tlvTreeArb(): fc.Arbitrary<Tlv[]> {
  const id = fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 65534 }));
  const value = fc.oneof(fc.uint8Array({ maxLength: 12 }), fc.uint8Array({ minLength: 250, maxLength: 300 })).map((b) => Buffer.from(b));
  const resource = fc.record({ type: fc.constant(3 as const), id, value });
  const instance = fc.record({ type: fc.constant(1 as const), id, value });
  const multiple = fc.record({ type: fc.constant(2 as const), id, children: fc.array(instance, { maxLength: 3 }) });
  const inner = fc.oneof(resource, multiple);
  const object = fc.record({ type: fc.constant(0 as const), id, children: fc.array(inner, { maxLength: 4 }) });
  return fc.oneof(fc.array(object, { maxLength: 3 }), fc.array(inner, { maxLength: 5 }), fc.array(instance, { maxLength: 3 }));
}

export type TlvOp =
  | { k: 'type'; node: number; type: number }
  | { k: 'wide'; node: number; wide: boolean }
  | { k: 'lengthBytes'; node: number; lengthBytes: 0 | 1 | 2 | 3; low: number }
  | { k: 'lie'; node: number; lie: number }
  | { k: 'id'; node: number; id: number }
  | { k: 'value'; node: number; value: Uint8Array }
  | { k: 'delete'; node: number }
  | { k: 'dup'; node: number }
  | { k: 'wrap'; node: number; type: number }
  | { k: 'swap'; node: number };

export function tlvOp(): fc.Arbitrary<TlvOp> {
  const node = fc.nat({ max: 1023 });
  return fc.oneof(
    fc.record({ k: fc.constant('type' as const), node, type: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ k: fc.constant('wide' as const), node, wide: fc.boolean() }),
    fc.record({ k: fc.constant('lengthBytes' as const), node, lengthBytes: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const), low: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ k: fc.constant('lie' as const), node, lie: fc.constantFrom(-300, -8, -1, 1, 2, 8, 255, 65536, 0xffffff) }),
    fc.record({ k: fc.constant('id' as const), node, id: fc.constantFrom(0, 1, 255, 256, 0x7fff, 65534, 65535) }),
    fc.record({ k: fc.constant('value' as const), node, value: fc.oneof(fc.uint8Array({ maxLength: 9 }), fc.constantFrom(new Uint8Array(0), Uint8Array.of(0x80), Uint8Array.of(0xff, 0xff, 0xff, 0xff))) }),
    fc.record({ k: fc.constant('delete' as const), node }),
    fc.record({ k: fc.constant('dup' as const), node }),
    fc.record({ k: fc.constant('wrap' as const), node, type: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ k: fc.constant('swap' as const), node }),
  );
}

function count(nodes: readonly TlvNode[]): number {
  return nodes.reduce((n, c) => n + 1 + (c.children ? count(c.children) : 0), 0);
}

/** Rebuilds the forest with pre-order node `target` replaced by f(node) (an array: zero, one or more nodes). */
function edit(nodes: readonly TlvNode[], target: number, f: (n: TlvNode, siblings: readonly TlvNode[]) => TlvNode[]): TlvNode[] {
  let index = 0;
  const visit = (list: readonly TlvNode[]): TlvNode[] => {
    const out: TlvNode[] = [];
    for (const n of list) {
      if (index++ === target) { out.push(...f(n, list)); continue; }
      out.push(n.children ? { ...n, children: visit(n.children) } : n);
    }
    return out;
  };
  return visit(nodes);
}

export function applyTlvOps(root: readonly TlvNode[], ops: readonly TlvOp[]): TlvNode[] {
  let tree = [...root];
  for (const op of ops) {
    const total = count(tree);
    if (total === 0) {
      if (op.k === 'value') tree = [{ type: 3, id: 0, value: op.value }];
      continue;
    }
    tree = edit(tree, op.node % total, (n, siblings) => {
      switch (op.k) {
        case 'type': return [{ ...n, type: op.type }];
        case 'wide': return [{ ...n, wide: op.wide }];
        case 'lengthBytes': return [{ ...n, lengthBytes: op.lengthBytes, low: op.low }];
        case 'lie': return [{ ...n, lie: op.lie }];
        case 'id': return [{ ...n, id: op.id }];
        case 'value': { const { children: _, ...rest } = n; return [{ ...rest, value: op.value }]; }
        case 'delete': return [];
        case 'dup': return [n, n];
        case 'wrap': return [{ type: op.type, id: n.id, children: [n] }];
        case 'swap': return siblings.length > 1 ? [siblings[siblings.length - 1]!] : [n];
      }
    });
  }
  return tree;
}
