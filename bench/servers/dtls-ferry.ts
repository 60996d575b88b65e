/**
 * Ferry for the DTLS benchmark, in a child process (`fork`, with --expose-gc) so that its CPU and
 * memory are its own: `node --expose-gc --import tsx bench/servers/dtls-ferry.ts ENDPOINT IDENTITY
 * KEYHEX IMAGE`. The real server (startFerry, --security psk, PGlite in memory):
 * the device's PSK provisioned through the credential service under a throw-away secrets key, the
 * image stored, and an update of that image under way for the device, so that its sessions may
 * fetch it on the DTLS download socket. Over IPC it sends {coapsPort, downloadPort, path} when
 * serving; {"op":"memory"} answers process.memoryUsage(), the V8 heap spaces and the session
 * counts of the coaps and DTLS download sockets after a full collection.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import { configWith } from '../../server/config.ts';
import { silentLogger } from '../../server/log.ts';
import { startFerry } from '../../server/main.ts';
import { findByEndpoint } from '../../server/store/devices.ts';
import { insertFirmware } from '../../server/store/firmware.ts';
import { openDb } from '../../server/store/open.ts';
import { generateToken } from '../../server/store/tokens.ts';
import { createUpdate } from '../../server/store/updates.ts';

const [endpoint, identity, keyHex, imageFile] = process.argv.slice(2);
if (endpoint === undefined || identity === undefined || keyHex === undefined || imageFile === undefined) {
  throw new Error('usage: dtls-ferry.ts ENDPOINT IDENTITY KEYHEX IMAGE');
}
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-dtls-server-'));
const secretsKeyFile = join(dir, 'secrets.key');
writeFileSync(secretsKeyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });

// PGlite in memory, whatever DATABASE_URL says: a database that outlives the run holds keys sealed
// under another master key, and Ferry refuses to start on it with this one. The PSK look-up asks
// the database once a second at most (the credential service's cache), so which one matters little.
const db = await openDb({});
// Every downloader comes from 127.0.0.1: the per-address block rate (--download-rate) would
// measure itself, so it is off here, as in the plain download benchmark.
const ferry = await startFerry(configWith({
  coapPort: 0, coapsPort: 0, downloadCoapsPort: 0, apiPort: 0, security: 'psk', secretsKeyFile, pskIdentityHint: 'ferry',
  logLevel: 'silent', adminToken: generateToken(), downloadRate: 0,
}), { log: silentLogger(), db });
await ferry.credentials.put(endpoint, identity, { key: keyHex }, 'bench');
const device = await findByEndpoint(db, endpoint);
const image = await insertFirmware(db, { version: `bench-${process.pid}`, hardwareClass: 'bench', payload: readFileSync(imageFile) });
await createUpdate(db, { deviceId: device!.id, firmwareId: image.id, deadlineSeconds: 24 * 3600, actor: 'bench' });
const coaps = ferry.coaps!.dtls!;
const download = ferry.secureDownload!.dtls!;

process.on('message', (c: { op: string }) => {
  if (c.op !== 'memory') return;
  for (let i = 0; i < 3; i++) globalThis.gc?.();
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, { size: x.space_size, used: x.space_used_size }]));
  process.send!({ memory: process.memoryUsage(), spaces, counts: coaps.counts, downloadCounts: download.counts });
});
const stop = (): void => {
  void ferry.close().then(() => db.close()).finally(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
};
process.on('disconnect', stop);
process.on('SIGTERM', stop);
process.send!({ coapsPort: ferry.coapsAddress!.port, downloadPort: ferry.secureDownloadAddress!.port, path: ['fw', image.downloadName] });
