/**
 * Ferry's DTLS layer for the DTLS benchmark, in a child process (`fork`, with --expose-gc) so that
 * its CPU and memory are its own: `node --expose-gc --import tsx bench/servers/dtls-ferry.ts
 * IDENTITY KEYHEX IMAGE`. A DtlsSocket (server/dtls/socket.ts) on 127.0.0.1 with the PSK looked up
 * by identity, and behind it a stateless Block2 responder shaped like the download socket
 * (server/coap/download-server.ts): GET /fw/0 → the image's block → one datagram. It sends
 * {"port"} over IPC when listening; {"op":"memory"} answers process.memoryUsage() and the V8 heap
 * spaces after a full collection, {"op":"stats"} the layer's counters.
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import { blockSize, decodeBlock, encodeBlock } from '../../protocols/block.ts';
import { decodeCoapMessage, encodeMessage, optionValue, type CoapMessage } from '../../protocols/coap-message.ts';
import { CoapOption, encodeUint } from '../../protocols/coap-option.ts';
import { ContentFormat } from '../../protocols/content-format.ts';
import { RECEIVE_BUFFER_BYTES } from '../../server/coap/udp-socket.ts';
import { DtlsSocket } from '../../server/dtls/socket.ts';

const [identity, keyHex, imageFile] = process.argv.slice(2);
if (identity === undefined || keyHex === undefined || imageFile === undefined) throw new Error('usage: dtls-ferry.ts IDENTITY KEYHEX IMAGE');
const key = Buffer.from(keyHex, 'hex');
const image = readFileSync(imageFile);
const OCTET_STREAM = encodeUint(ContentFormat.OPAQUE);
const ETAG = Buffer.from([0xfe, 0x77]);

// As Ferry makes its sockets (server/coap/udp-socket.ts): replies go to IP literals, no dns.lookup;
// the receive buffer enlarged.
const socket = createSocket({ type: 'udp4', lookup: (address, _family, callback) => callback(null, address, 4) });
await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
socket.setRecvBufferSize(RECEIVE_BUFFER_BYTES);
const dtls = new DtlsSocket({
  socket, identityHint: Buffer.from('ferry', 'utf8'),
  pskFor: async (id) => (id.toString('utf8') === identity ? key : undefined),
  maxSessions: 20_000, maxHalfOpen: 2_000,
});
dtls.on('error', (err: Error) => process.stderr.write(`dtls-ferry: ${err.stack ?? err.message}\n`));
dtls.on('message', (msg: Buffer, rinfo: { address: string; port: number }) => {
  try {
    answer(decodeCoapMessage(msg), rinfo);
  } catch {
    // malformed: no answer, as the download socket's guard would refuse it
  }
});

function answer(m: CoapMessage, rinfo: { address: string; port: number }): void {
  if (m.code !== 1 || m.type !== 'CON') return; // only CON GETs; ACKs and the rest need nothing
  const path: string[] = [];
  for (const [number, value] of m.options) if (number === CoapOption.URI_PATH) path.push(value.toString('utf8'));
  const reply = (code: string, options: Array<readonly [number, Buffer]>, payload?: Buffer): void =>
    dtls.send(encodeMessage({ type: 'ACK', code, messageId: m.messageId, token: m.token, options }, payload), rinfo.port, rinfo.address);
  if (path.length !== 2 || path[0] !== 'fw' || path[1] !== '0') return reply('4.04', []);
  const b2 = optionValue(m.options, CoapOption.BLOCK2);
  const { num, szx } = b2 === undefined ? { num: 0, szx: 6 } : decodeBlock(b2);
  const size = blockSize(Math.min(szx, 6));
  const start = num * size;
  if (start >= image.length && !(start === 0 && image.length === 0)) return reply('4.02', []);
  const more = start + size < image.length;
  reply('2.05', [[CoapOption.ETAG, ETAG], [CoapOption.CONTENT_FORMAT, OCTET_STREAM], [CoapOption.BLOCK2, encodeBlock({ num, more, szx: Math.min(szx, 6) })]],
    image.subarray(start, start + size));
}

process.on('message', (c: { op: string }) => {
  if (c.op === 'memory') {
    for (let i = 0; i < 3; i++) globalThis.gc?.();
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, { size: x.space_size, used: x.space_used_size }]));
    process.send!({ memory: process.memoryUsage(), spaces, counts: dtls.counts });
  } else if (c.op === 'stats') {
    process.send!({ stats: dtls.stats, counts: dtls.counts });
  }
});
process.on('disconnect', () => dtls.close(() => process.exit(0)));
process.on('SIGTERM', () => dtls.close(() => process.exit(0)));
process.send!({ port: dtls.address().port });
