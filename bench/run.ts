/**
 * `npm run bench`: Ferry on an in-memory PGlite (or DATABASE_URL), measured on loopback.
 * Prints one JSON document, then a Markdown table. `--quick` runs small sizes (the test suite
 * uses it to check the benchmarks run and their output is well formed).
 */
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../server/log.ts';
import { startFerry } from '../server/main.ts';
import { insertFirmware } from '../server/store/firmware.ts';
import { openDb } from '../server/store/open.ts';
import { configWith } from '../server/config.ts';
import { benchDownload } from './download.ts';
import { benchRegistration } from './registration.ts';

const quick = process.argv.includes('--quick');
const started = performance.now();
const db = await openDb(process.env['DATABASE_URL'] ? { databaseUrl: process.env['DATABASE_URL'] } : {});
const dbStartSeconds = (performance.now() - started) / 1000;
const ferry = await startFerry(configWith({ coapPort: 0, apiPort: 0, requestTimeout: 10, logLevel: 'silent' }), { log: silentLogger(), db });
try {
  const imageBytes = quick ? 64 * 1024 : 1024 * 1024;
  const image = await insertFirmware(db, { version: `bench-${Date.now()}`, hardwareClass: 'bench', payload: randomBytes(imageBytes) });
  const download = await benchDownload({
    port: ferry.coapAddress.port, imageId: image.id, imageBytes, clients: quick ? 4 : 50, szx: 6, limitMs: 120_000,
  });
  const registration = await benchRegistration({ port: ferry.coapAddress.port, devices: quick ? 10 : 200, db, limitMs: 120_000 });
  const report = {
    machine: { node: process.version, cpus: (await import('node:os')).cpus().length, database: db.driver },
    databaseStartSeconds: Math.round(dbStartSeconds * 100) / 100,
    download, registration,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n\n`);
  process.stdout.write([
    '| benchmark | figure |', '|---|---|',
    `| database start (${db.driver}, open + migrate) | ${report.databaseStartSeconds} s |`,
    `| download: ${download.clients} clients × ${download.imageBytes / 1024} KiB at ${download.blockSize}-byte blocks | ${download.blocksPerSecond} blocks/s, ${download.megabytesPerSecond} MB/s, RSS +${download.rssGrowthMb} MB |`,
    `| registration: ${registration.devices} devices (Register, then /3/0 read and stored) | ${registration.perSecond} devices/s, p95 ${registration.p95Ms} ms to 2.01 |`,
  ].join('\n') + '\n');
} finally {
  await ferry.close();
  await db.close();
}
