/**
 * `npm run bench`: measured on loopback. Prints one JSON document, a blank line, then a Markdown
 * table. The download comparison runs Ferry's download socket, libcoap's coap-server-notls and a
 * naive node-coap server, each in a child process, under one load generator (bench/download.ts).
 * `--quick` runs small sizes (the test suite uses it to check the benchmarks run and their output
 * is well formed); `--only download|registration|dtls` runs one of the three; `--devices N` sets the
 * registration fleet (default 1,000; 10 with --quick); `--cpu-prof DIR` writes the server
 * processes' CPU profiles to DIR. The DTLS part (bench/dtls.ts) measures handshakes per second,
 * Block2 over DTLS against libcoap's coap-server-openssl, and the memory of established sessions.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { configWith } from '../server/config.ts';
import { silentLogger } from '../server/log.ts';
import { generateToken } from '../server/store/tokens.ts';
import { startFerry } from '../server/main.ts';
import { openDb } from '../server/store/open.ts';
import { compareServers, type Comparison } from './compare.ts';
import { benchDtls, type DtlsReport } from './dtls.ts';
import { benchRegistration, type RegistrationResult } from './registration.ts';

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean' }, only: { type: 'string' }, devices: { type: 'string' }, 'cpu-prof': { type: 'string' } },
});
const quick = args.quick === true;
const log = (line: string): void => { process.stderr.write(`bench: ${line}\n`); };
const parts = ['download', 'registration', 'dtls'];
if (args.only !== undefined && !parts.includes(args.only)) {
  process.stderr.write(`bench: --only is download, registration or dtls, got "${args.only}"\n`);
  process.exit(2);
}
const registrationDevices = args.devices !== undefined ? Number(args.devices) : quick ? 10 : 1000;
if (!Number.isInteger(registrationDevices) || registrationDevices < 1 || registrationDevices > 20_000) {
  process.stderr.write(`bench: --devices is an integer in 1..20000, got "${args.devices}"\n`);
  process.exit(2);
}

const runs = (part: string): boolean => args.only === undefined || args.only === part;
const download = runs('download') ? await benchDownload() : undefined;
const registration = runs('registration') ? await benchRegistrations() : undefined;
const dtls = runs('dtls') ? await benchDtlsPart() : undefined;
const report = {
  machine: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', database: registration?.database ?? null },
  ...(registration ? { databaseStartSeconds: registration.databaseStartSeconds } : {}),
  ...(download ? { download } : {}),
  ...(registration ? { registration: registration.result } : {}),
  ...(dtls ? { dtls } : {}),
};
process.stdout.write(`${JSON.stringify(report, null, 2)}\n\n`);
process.stdout.write(table(download, [
  ...(registration ? [
    `| database start (${registration.database}, open + migrate) | ${registration.databaseStartSeconds} s | | | | |`,
    `| registration: ${registration.result.devices} devices (Register, then /3/0 read and stored) | ${registration.result.perSecond} devices/s, p95 ${registration.result.p95Ms} ms to 2.01 | | | | |`,
  ] : []),
  ...(dtls ? dtlsRows(dtls) : []),
]));

async function benchDownload(): Promise<Comparison> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-'));
  try {
    const sizes = quick ? [16 * 1024, 64 * 1024] : [256 * 1024, 1024 * 1024];
    const images = await Promise.all(sizes.map(async (size, i) => {
      const bytes = randomBytes(size);
      const file = join(dir, `image-${i}.bin`);
      await writeFile(file, bytes);
      return { file, bytes };
    }));
    return await compareServers({
      servers: ['ferry', 'libcoap', 'naive'], images, szx: 6,
      clients: quick ? [1, 4] : [1, 100, 1000],
      limitMs: quick ? 10_000 : 25_000, minSeconds: quick ? 0.2 : 2,
      probeClients: quick ? 50 : 10_000, probeMs: quick ? 2_000 : 15_000,
      ...(args['cpu-prof'] ? { cpuProfileDir: args['cpu-prof'] } : {}), log,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchRegistrations(): Promise<{ database: string; databaseStartSeconds: number; result: RegistrationResult | (RegistrationResult & { error: string }) }> {
  log(`registration: ${registrationDevices} devices`);
  const started = performance.now();
  const db = await openDb(process.env['DATABASE_URL'] ? { databaseUrl: process.env['DATABASE_URL'] } : {});
  const databaseStartSeconds = Math.round((performance.now() - started) / 10) / 100;
  const ferry = await startFerry(configWith({ coapPort: 0, downloadPort: 0, apiPort: 0, requestTimeout: 10, logLevel: 'silent', adminToken: generateToken(), releaseApproval: 'off' }), { log: silentLogger(), db });
  try {
    // A failure here must not lose the download figures: it is reported, and the exit code says it.
    const result = await benchRegistration({ port: ferry.coapAddress!.port, devices: registrationDevices, db, limitMs: 180_000 })
      .catch((err: unknown) => {
        process.exitCode = 1;
        log(`registration failed: ${err instanceof Error ? err.stack : String(err)}`);
        return { devices: registrationDevices, seconds: 0, error: err instanceof Error ? err.message : String(err), perSecond: 0, p95Ms: 0 };
      });
    return { database: db.driver, databaseStartSeconds, result };
  } finally {
    await ferry.close();
    await db.close();
  }
}

async function benchDtlsPart(): Promise<DtlsReport> {
  log('dtls: handshakes, Block2 over DTLS against coap-server-openssl, memory of established sessions');
  return benchDtls({
    handshakes: quick ? { runs: 1, total: 20, concurrency: 5, limitMs: 10_000 } : { runs: 5, total: 5_000, concurrency: 100, limitMs: 15_000 },
    download: quick
      ? { imageBytes: 16 * 1024, clients: [5], trials: 1, szx: 6, limitMs: 10_000, minSeconds: 0.2, setupConcurrency: 5 }
      : { imageBytes: 64 * 1024, clients: [100, 1000], trials: 3, szx: 6, limitMs: 30_000, minSeconds: 2, setupConcurrency: 50 },
    memory: quick ? { sessions: 100, concurrency: 20, limitMs: 10_000 } : { sessions: 10_000, concurrency: 100, limitMs: 60_000 },
    ...(args['cpu-prof'] ? { cpuProfileDir: args['cpu-prof'] } : {}), log,
  });
}

function dtlsRows(d: DtlsReport): string[] {
  const n = (x: number): string => x.toLocaleString('en-US');
  const h = d.handshakes;
  const rows = [
    `| DTLS PSK handshakes (cookie exchange included), ${h.runs.length} run${h.runs.length === 1 ? '' : 's'} of ${n(h.runs[0]?.total ?? 0)}, ${h.runs[0]?.concurrency ?? 0} at a time | median ${n(h.medianPerSecond)}/s (${n(h.minPerSecond)}–${n(h.maxPerSecond)}); server CPU ${h.medianServerCpuUsPerHandshake} µs each | | | | |`,
  ];
  const cell = (server: string, clients: number): string => {
    const all = d.download.scenarios.filter((x) => x.server === server && x.clients === clients);
    const sum = d.download.summary.find((x) => x.server === server && x.clients === clients);
    if (!sum || all.length === 0) return '—';
    const failed = all.reduce((a, x) => a + x.failed, 0);
    const retransmissions = all.reduce((a, x) => a + x.retransmissions, 0);
    const spread = all.length > 1 ? ` (${n(sum.minBlocksPerSecond)}–${n(sum.maxBlocksPerSecond)})` : '';
    return `${all.length > 1 ? 'median ' : ''}${n(sum.medianBlocksPerSecond)} blocks/s${spread}, ${n(retransmissions)} retransmissions${failed > 0 ? `, ${failed} failed` : ''}`;
  };
  for (const r of d.download.ratios) {
    rows.push(`| Block2 over DTLS, ${d.download.imageBytes / 1024} KiB, K = ${n(r.clients)} sessions | ${cell('ferry', r.clients)} | ${cell('libcoap', r.clients)} (coap-server-openssl) | | ${r.ferryOverLibcoap === null ? '—' : `${r.ferryOverLibcoap}×`} | |`);
  }
  const m = d.memory;
  const mb = (x: number): string => x.toFixed(1);
  rows.push(`| DTLS memory, ${n(m.established)} established sessions held (after a full GC) | RSS ${mb(m.rssBeforeMb)} → ${mb(m.rssAfterMb)} MB (+${mb(m.rssAfterMb - m.rssBeforeMb)}, of which V8's young generation +${mb(m.newSpaceAfterMb - m.newSpaceBeforeMb)}); heap used + external +${mb(m.heapUsedAfterMb + m.externalAfterMb - m.heapUsedBeforeMb - m.externalBeforeMb)} MB, ${n(m.bytesPerSession)} bytes/session | | | | |`);
  return rows;
}

function table(c: Comparison | undefined, extra: string[]): string {
  const header = [
    '| benchmark | Ferry | libcoap coap-server | naive node-coap | Ferry/libcoap | Ferry/naive |',
    '|---|---|---|---|---|---|',
  ];
  if (!c) return [...header, ...extra].join('\n') + '\n';
  const n = (x: number): string => x.toLocaleString('en-US');
  const cell = (server: string, imageBytes: number, clients: number): string => {
    const s = c.scenarios.find((x) => x.server === server && x.imageBytes === imageBytes && x.clients === clients);
    if (!s) return '—';
    const unfinished = s.completed < s.clients * s.rounds ? ` (${s.completed}/${s.clients * s.rounds} done in ${s.seconds} s)` : '';
    return `${n(s.blocksPerSecond)} blocks/s, ${s.megabytesPerSecond} MB/s${unfinished}`;
  };
  const times = (x: number | null): string => (x === null ? '—' : `${x}×`);
  const rows = c.ratios.map((r) =>
    `| download ${r.imageBytes / 1024} KiB, K = ${n(r.clients)} | ${cell('ferry', r.imageBytes, r.clients)} | ${cell('libcoap', r.imageBytes, r.clients)} | ${cell('naive', r.imageBytes, r.clients)} | ${times(r.ferryOverLibcoap)} | ${times(r.ferryOverNaive)} |`);
  const mem = (server: string): string => {
    const m = c.memory.find((x) => x.server === server);
    return m ? `${m.rssBeforeMb} → ${m.rssPeakMb} MB (+${m.rssPeakMb - m.rssBeforeMb}); ${m.rssIdleMb} MB after warm-up` : '—';
  };
  const probe = c.memory[0];
  if (probe) {
    rows.push(`| server RSS, ${n(probe.clients)} concurrent downloaders of ${probe.imageBytes / 1024} KiB | ${mem('ferry')} | ${mem('libcoap')} | ${mem('naive')} | | |`);
  }
  return [...header, ...rows, ...extra].join('\n') + '\n';
}
