/**
 * The naive baseline: node-coap's own server answering `res.end(image)` and letting node-coap do
 * Block2. Run as a child process: `node --import tsx bench/servers/naive.ts IMAGE…`; serves
 * /img/<i> and prints {"port":N} on one line when listening.
 */
import { readFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'coap';

const images = process.argv.slice(2).map((f) => readFileSync(f));
const server = createServer((req, res) => {
  const m = /^\/img\/(\d+)$/.exec(req.url);
  const image = m ? images[Number(m[1])] : undefined;
  if (!image) {
    res.code = '4.04';
    res.end();
    return;
  }
  res.end(image);
});
const socket = createSocket('udp4');
socket.bind(0, '127.0.0.1', () => {
  server.listen(socket);
  process.stdout.write(`${JSON.stringify({ port: socket.address().port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
