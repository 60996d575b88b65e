/**
 * The download path: C concurrent clients, each fetching one image block by block (Block2,
 * NSTART = 1 per client) over loopback with raw coap-packet datagrams.
 */
import { createSocket, type Socket } from 'node:dgram';
import { generate, parse } from 'coap-packet';
import { decodeBlock, encodeBlock } from '../protocols/block.ts';

export interface DownloadResult {
  clients: number;
  imageBytes: number;
  blockSize: number;
  blocks: number;
  seconds: number;
  blocksPerSecond: number;
  megabytesPerSecond: number;
  rssGrowthMb: number;
}

async function fetchImage(socket: Socket, port: number, path: string[], szx: number, deadline: number): Promise<number> {
  let blocks = 0;
  let messageId = Math.floor(Math.random() * 60000);
  for (let num = 0; ; num++) {
    const token = Buffer.from([num & 0xff, (num >> 8) & 0xff, 7, 7]);
    const payload = await new Promise<{ more: boolean }>((resolve, reject) => {
      const retry = setInterval(() => socket.send(packet, port, '127.0.0.1'), 500);
      const onMessage = (msg: Buffer): void => {
        const p = parse(msg);
        if (!p.token.equals(token)) return;
        clearInterval(retry);
        socket.off('message', onMessage);
        if (p.code !== '2.05') return reject(new Error(`block ${num}: ${p.code}`));
        const b2 = p.options.find((o) => o.name === 'Block2');
        resolve({ more: b2 ? decodeBlock(b2.value).more : false });
      };
      socket.on('message', onMessage);
      const packet = generate({
        confirmable: true, code: 'GET', messageId: (messageId = (messageId + 1) & 0xffff), token,
        options: [...path.map((s) => ({ name: 'Uri-Path' as const, value: Buffer.from(s) })),
          { name: 'Block2' as const, value: encodeBlock({ num, more: false, szx }) }],
      });
      socket.send(packet, port, '127.0.0.1');
    });
    blocks++;
    if (!payload.more) return blocks;
    if (Date.now() > deadline) throw new Error('download benchmark ran past its time limit');
  }
}

export async function benchDownload(o: { port: number; imageId: number; imageBytes: number; clients: number; szx: number; limitMs: number }): Promise<DownloadResult> {
  const sockets = await Promise.all(Array.from({ length: o.clients }, () => new Promise<Socket>((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => resolve(s));
  })));
  const rss0 = process.memoryUsage().rss;
  const started = performance.now();
  const deadline = Date.now() + o.limitMs;
  try {
    const counts = await Promise.all(sockets.map((s) => fetchImage(s, o.port, ['fw', String(o.imageId)], o.szx, deadline)));
    const seconds = (performance.now() - started) / 1000;
    const blocks = counts.reduce((a, b) => a + b, 0);
    return {
      clients: o.clients, imageBytes: o.imageBytes, blockSize: 16 << o.szx, blocks, seconds: round(seconds),
      blocksPerSecond: Math.round(blocks / seconds),
      megabytesPerSecond: round((o.imageBytes * o.clients) / seconds / 1e6),
      rssGrowthMb: round((process.memoryUsage().rss - rss0) / 1e6),
    };
  } finally {
    for (const s of sockets) s.close();
  }
}

const round = (x: number): number => Math.round(x * 100) / 100;
