/**
 * Ferry for the download benchmark, in a child process so that its RSS is its own:
 * `node --import tsx bench/servers/ferry.ts IMAGE…` starts Ferry on free loopback ports (PGlite in
 * memory, or DATABASE_URL), stores each image as a firmware record and prints one JSON line
 * {"coapPort","downloadPort","ids"} when serving. SIGTERM stops it cleanly.
 */
import { readFileSync } from 'node:fs';
import { configWith } from '../../server/config.ts';
import { silentLogger } from '../../server/log.ts';
import { generateToken } from '../../server/store/tokens.ts';
import { startFerry } from '../../server/main.ts';
import { insertFirmware } from '../../server/store/firmware.ts';
import { openDb } from '../../server/store/open.ts';

const url = process.env['DATABASE_URL'];
const db = await openDb(url ? { databaseUrl: url } : {});
// The load comes from K sockets on one or two loopback addresses with no update under way: the
// per-address block rate (--download-rate) would measure itself, so it is off here.
const ferry = await startFerry(configWith({ coapPort: 0, downloadPort: 0, apiPort: 0, logLevel: 'silent', adminToken: generateToken(), releaseApproval: 'off', downloadRate: 0 }), { log: silentLogger(), db });
const ids: string[] = [];
for (const [i, file] of process.argv.slice(2).entries()) {
  const image = await insertFirmware(db, { version: `bench-${process.pid}-${i}`, hardwareClass: 'bench', payload: readFileSync(file) });
  ids.push(image.downloadName);
}
process.stdout.write(`${JSON.stringify({ coapPort: ferry.coapAddress!.port, downloadPort: ferry.downloadAddress!.port, ids })}\n`);
process.on('SIGTERM', () => {
  void ferry.close().then(() => db.close()).then(() => process.exit(0));
});
