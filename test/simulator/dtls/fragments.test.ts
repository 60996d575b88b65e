/**
 * The server's handshake, cut into small fragments (RFC 6347 §4.2.3), one record per datagram,
 * delivered in reverse order: a test layer under the client rewrites what libcoap's servers send
 * (epoch-0 records only; their sequence numbers are renumbered upwards, which nothing
 * authenticates in epoch 0), so reassembly and reordering are met on a real handshake.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Peer } from '../../../simulator/coap/outbox.ts';
import { bindUdp } from '../../../simulator/coap/transport.ts';
import type { DatagramTransport } from '../../../simulator/coap/transport.ts';
import { decodeRecords, encodeRecord } from '../../../simulator/dtls/record.ts';
import { DtlsTransport } from '../../../simulator/dtls/transport.ts';
import { within } from '../helpers.ts';
import { hasCommand, startLibcoap } from './libcoap.ts';

/** Splits every handshake message in `content` into fragments of at most `size` bytes. */
function split(content: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off + 12 <= content.length) {
    const fragLen = content.readUIntBE(off + 9, 3);
    const fragOff = content.readUIntBE(off + 6, 3);
    const body = content.subarray(off + 12, off + 12 + fragLen);
    for (let at = 0; at < Math.max(fragLen, 1); at += size) {
      const part = body.subarray(at, at + size);
      const h = Buffer.from(content.subarray(off, off + 12));
      h.writeUIntBE(fragOff + at, 6, 3);
      h.writeUIntBE(part.length, 9, 3);
      out.push(Buffer.concat([h, part]));
    }
    off += 12 + fragLen;
  }
  return out;
}

function fragmenting(inner: DatagramTransport, size: number, stats: { datagrams: number }): DatagramTransport {
  let nextSeq = 0;
  return {
    send: (b, p, d) => inner.send(b, p, d),
    address: () => inner.address(),
    close: () => inner.close(),
    onMessage(handler: (buf: Buffer, peer: Peer) => void) {
      inner.onMessage((buf, peer) => {
        const out: Buffer[] = [];
        for (const r of decodeRecords(buf, 0)) {
          if (r.epoch !== 0) {
            out.push(encodeRecord(r));
            continue;
          }
          const pieces = r.type === 22 ? split(r.fragment, size) : [r.fragment];
          for (const fragment of pieces) out.push(encodeRecord({ ...r, seq: nextSeq++, fragment }));
        }
        const epoch0 = out.filter((d) => d.readUInt16BE(3) === 0).reverse();
        const rest = out.filter((d) => d.readUInt16BE(3) !== 0);
        for (const d of [...epoch0, ...rest]) {
          stats.datagrams += 1;
          handler(d, peer);
        }
      });
    },
  };
}

for (const binary of ['coap-server-openssl', 'coap-server-gnutls']) {
  const name = binary.replace('coap-server-', '');
  if (!hasCommand(binary)) {
    test(`${binary} is not installed: skipped`, () => console.log(`  SKIPPED: ${binary} not found on PATH`));
    continue;
  }
  test(`${name}: a handshake whose server flights arrive as 7-byte fragments, in reverse order`, async () => {
    const srv = await startLibcoap(binary, 'frag-key', 'a-rather-longer-identity-hint-to-cut');
    const stats = { datagrams: 0 };
    try {
      const t = new DtlsTransport(fragmenting(await bindUdp('127.0.0.1'), 7, stats), {
        server: { address: '127.0.0.1', port: srv.dtlsPort },
        psk: Buffer.from('frag-key'),
        identity: Buffer.from('frag-device'),
        initialTimeoutMs: 300,
        maxRetransmits: 4,
      });
      await within(t.ready, 5000, 'handshake');
      assert.is(t.session.identityHint.toString(), 'a-rather-longer-identity-hint-to-cut');
      assert.ok(stats.datagrams > 15, `the server's flights came as ${stats.datagrams} datagrams`);
      await t.close();
    } finally {
      await srv.stop();
    }
  });
}

test.run();
