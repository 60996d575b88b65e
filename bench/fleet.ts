/**
 * The simulator at scale, against a real `ferry serve` in a child process (PGlite in a temp dir,
 * or DATABASE_URL), so the two processes' memory and CPU are each their own:
 *
 *  - scale: N devices (digest flash) register and then idle; the simulator's RSS and CPU, for
 *    the registration phase and per second of idling, at each N asked for (1,000 and 10,000);
 *  - update: N devices × an image of S bytes, with a loss rate on every device's link; the time
 *    from the first device start until every device runs the new image, time-to-update
 *    percentiles, retransmissions, and both processes' CPU and peak RSS.
 *
 * `node --import tsx bench/fleet.ts [--scale 1000,10000] [--devices 1000] [--size 256k]
 * [--loss 0.05]` prints JSON; bench/run.ts includes it in `npm run bench`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePrivateKeyPem, encodePublicKeyPem, generateSigningKey } from '../protocols/package-keys.ts';
import type { TrustAnchor } from '../protocols/package.ts';
import { runFleet } from '../simulator/fleet.ts';
import type { FleetOptions, FleetResult } from '../simulator/fleet.ts';
import type { SimDevice } from '../simulator/device.ts';
import { makeSimImage } from '../simulator/image.ts';
import { spawnServe, stopChild } from './servers/serve.ts';
import { processStats } from './servers/spawn.ts';
import { generateToken } from '../server/store/tokens.ts';

export interface ScaleFigures {
  devices: number;
  registered: number;
  registerSeconds: number;
  /** Simulator process: RSS once all are registered and idle, and per device. */
  simRssMb: number;
  simKbPerDevice: number;
  /** Simulator CPU seconds spent while the fleet registered, and its CPU share while idle. */
  simCpuRegisterSeconds: number;
  simIdleCpuPercent: number;
  serverRssMb: number;
}

export interface UpdateFigures {
  devices: number;
  imageBytes: number;
  loss: number;
  updated: number;
  failed: Record<string, number>;
  bricked: number;
  /** From the first device start until the last device runs the new image (or, when some never did, the last one that did). */
  seconds: number;
  timeToUpdateMs: FleetResult['timeToUpdateMs'];
  retransmissions: number;
  packetsPerUpdate: number;
  simCpuSeconds: number;
  simRssPeakMb: number;
  serverCpuSeconds: number;
  serverRssPeakMb: number;
  /** Devices left on the old image at the end, with what the server says of each (its active update, its last events). */
  notUpdated?: NotUpdated[];
}

export interface NotUpdated {
  endpoint: string;
  version: string;
  activeUpdate: { id: number; state: string; delivery: string | null; reason: string | null } | null;
  lastEvents: string[];
}

interface Server {
  coapPort: number;
  api: string;
  /** The admin token the server was started with (FERRY_ADMIN_TOKEN). */
  token: string;
  anchor: TrustAnchor;
  stats: ReturnType<typeof processStats>;
  stop(): Promise<void>;
}

/** `ferry serve` on free loopback ports, signing raw uploads with a key made here. */
async function startServer(dir: string): Promise<Server> {
  const token = generateToken();
  const key = generateSigningKey('ed25519');
  const keyFile = join(dir, 'signing.key');
  await writeFile(keyFile, encodePrivateKeyPem(key), { mode: 0o600 });
  await writeFile(`${keyFile}.pub`, encodePublicKeyPem(key));
  const s = await spawnServe(['--coap-port', '0', '--download-port', '0', '--api-port', '0', '--db-dir', join(dir, 'db'),
    '--signing-key', keyFile, '--trusted-keys', `${keyFile}.pub`, '--update-timeout', '10m', '--log-level', 'info',
    // A whole fleet from one loopback address, all new at once: the limits on new endpoints per address would pace it.
    '--register-limit-ip', 'off', '--register-limit-global', 'off',
    // The fleet is updated straight to images it uploads, none approved: a lab.
    '--release-approval', 'off'],
  { startMs: 90_000, inheritStderr: true, env: { ...process.env, FERRY_ADMIN_TOKEN: token } });
  return {
    coapPort: s.coapPort,
    api: s.api,
    token,
    anchor: { alg: key.alg, kid: key.kid, publicKey: key.publicKey },
    stats: processStats(s.child.pid!),
    stop: () => stopChild(s.child),
  };
}

async function upload(server: Server, version: string, payload: Buffer): Promise<number> {
  const res = await fetch(`${server.api}/api/v1/firmware?version=${version}&hardwareClass=sim-1&delivery=package`, {
    method: 'POST', headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${server.token}` }, body: payload,
  });
  if (res.status !== 201) throw new Error(`upload: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: number }).id;
}

/** Samples a peak while a promise runs. */
async function peak<T>(sample: () => number, work: Promise<T>): Promise<{ value: T; peak: number }> {
  let top = sample();
  const timer = setInterval(() => { top = Math.max(top, sample()); }, 250);
  try {
    const value = await work;
    return { value, peak: Math.max(top, sample()) };
  } finally {
    clearInterval(timer);
  }
}

const simRssMb = (): number => process.memoryUsage().rss / 1024 / 1024;
const simCpuSeconds = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

function fleetBase(server: Server, prefix: string): Pick<FleetOptions, 'server' | 'prefix' | 'trustedKeys' | 'flash' | 'blockSzx' | 'lifetime' | 'seed'> {
  return {
    server: `coap://127.0.0.1:${server.coapPort}`, prefix, trustedKeys: [server.anchor],
    flash: { mode: 'digest' }, blockSzx: 6, lifetime: 3600, seed: 7,
  };
}

/** N devices register, then idle for `idleSeconds`. */
async function scale(server: Server, devices: number, idleSeconds: number, limitMs: number): Promise<ScaleFigures> {
  const cpu0 = simCpuSeconds();
  const t0 = Date.now();
  let registeredAt = 0;
  let cpuRegistered = 0;
  let idle: { cpu: number; ms: number; rss: number } | undefined;
  const report = await runFleet({
    ...fleetBase(server, `scale${devices}`), devices, ramp: 1000, durationMs: limitMs,
    until: (s) => {
      if (registeredAt === 0 && s.registered === devices) {
        registeredAt = Date.now();
        cpuRegistered = simCpuSeconds();
      }
      if (registeredAt === 0 || Date.now() - registeredAt < idleSeconds * 1000) return false;
      // Read here, before the fleet stops (and de-registers) its devices.
      idle = { cpu: simCpuSeconds() - cpuRegistered, ms: Date.now() - registeredAt, rss: simRssMb() };
      return true;
    },
  });
  const rss = idle?.rss ?? simRssMb();
  return {
    devices, registered: report.registered,
    registerSeconds: round(((registeredAt || Date.now()) - t0) / 1000),
    simRssMb: round(rss), simKbPerDevice: round((rss * 1024) / devices),
    simCpuRegisterSeconds: round(cpuRegistered - cpu0, 2),
    simIdleCpuPercent: idle === undefined ? 0 : round((100 * idle.cpu) / (idle.ms / 1000), 1),
    serverRssMb: round(server.stats.rssMb()),
  };
}

async function update(server: Server, devices: number, imageBytes: number, loss: number, limitMs: number): Promise<UpdateFigures> {
  const firmwareId = await upload(server, `2.0.0-${process.pid}`, makeSimImage({ version: `2.0.0-${process.pid}`, size: imageBytes, seed: 3 }));
  const sim0 = simCpuSeconds();
  const srv0 = server.stats.cpuSeconds();
  let serverPeak = server.stats.rssMb();
  const sampler = setInterval(() => { serverPeak = Math.max(serverPeak, server.stats.rssMb()); }, 250);
  const t0 = Date.now();
  let doneAt = 0;
  let lastAt = 0;
  let lastCount = 0;
  let fleet: readonly SimDevice[] = [];
  try {
    const { value: report, peak: simPeak } = await peak(simRssMb, runFleet({
      ...fleetBase(server, `upd${devices}`), devices, ramp: 500, durationMs: limitMs, onDevices: (d) => { fleet = d; },
      faults: { link: { loss }, device: {} },
      driver: { api: server.api, token: server.token, updateTo: firmwareId, maxAttempts: 3, retryMs: 2000, pollMs: 5000 },
      until: (s) => {
        if (s.updated > lastCount) { lastCount = s.updated; lastAt = Date.now(); }
        if (s.updated === devices && doneAt === 0) doneAt = Date.now();
        return doneAt > 0;
      },
    }));
    return {
      devices, imageBytes, loss, updated: report.updated, failed: report.failed, bricked: report.bricked,
      seconds: round(((doneAt || lastAt || Date.now()) - t0) / 1000),
      timeToUpdateMs: report.timeToUpdateMs, retransmissions: report.retransmissions,
      packetsPerUpdate: round(report.perUpdate.packets, 0),
      simCpuSeconds: round(simCpuSeconds() - sim0), simRssPeakMb: round(simPeak),
      serverCpuSeconds: round(server.stats.cpuSeconds() - srv0), serverRssPeakMb: round(serverPeak),
      ...await notUpdated(server, fleet, `2.0.0-${process.pid}`),
    };
  } finally {
    clearInterval(sampler);
  }
}

/** What the server says of each device the run left behind (at most 20): a run that leaves one is a bug to find. */
async function notUpdated(server: Server, fleet: readonly SimDevice[], version: string): Promise<{ notUpdated?: NotUpdated[] }> {
  const left = fleet.filter((d) => d.firmwareVersion !== version && !d.off).slice(0, 20);
  if (left.length === 0) return {};
  const out: NotUpdated[] = [];
  for (const d of left) {
    const res = await fetch(`${server.api}/api/v1/devices/${encodeURIComponent(d.endpoint)}`, { headers: { authorization: `Bearer ${server.token}` } });
    const body = await res.json() as { activeUpdate: NotUpdated['activeUpdate'] & Record<string, unknown> | null; events?: Array<{ kind: string; data: Record<string, unknown> }> };
    const a = body.activeUpdate;
    out.push({
      endpoint: d.endpoint, version: d.firmwareVersion,
      activeUpdate: a ? { id: a.id, state: a.state, delivery: a.delivery, reason: a.reason } : null,
      lastEvents: (body.events ?? []).slice(-8).map((e) => `${e.kind}${e.data['state'] ? ` ${String(e.data['state'])}` : ''}${e.data['reason'] ? ` (${String(e.data['reason'])})` : ''}`),
    });
  }
  return { notUpdated: out };
}

export interface FleetBenchOptions {
  /** Fleet sizes for the scale figures (default 1,000 and 10,000). */
  scale: number[];
  idleSeconds: number;
  update: { devices: number; imageBytes: number; loss: number };
  limitMs: number;
  log?: (line: string) => void;
}

export async function benchFleet(o: FleetBenchOptions): Promise<{ scale: ScaleFigures[]; update: UpdateFigures }> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-fleet-bench-'));
  const server = await startServer(dir);
  try {
    o.log?.(`fleet: update ${o.update.devices} × ${o.update.imageBytes} B at ${o.update.loss * 100}% loss`);
    const upd = await update(server, o.update.devices, o.update.imageBytes, o.update.loss, o.limitMs);
    const figures: ScaleFigures[] = [];
    for (const n of o.scale) {
      o.log?.(`fleet: ${n} devices register and idle`);
      figures.push(await scale(server, n, o.idleSeconds, o.limitMs));
    }
    return { scale: figures, update: upd };
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export function fleetTable(f: { scale: ScaleFigures[]; update: UpdateFigures }): string[] {
  const u = f.update;
  const t = u.timeToUpdateMs;
  return [
    ...f.scale.map((s) => `| simulator: ${s.devices.toLocaleString('en-US')} devices registered (${s.registered}) and idle | ${s.simRssMb} MB RSS (${s.simKbPerDevice} KiB/device), `
      + `${s.simCpuRegisterSeconds} CPU s to register (${s.registerSeconds} s), ${s.simIdleCpuPercent}% CPU idle | | | | |`),
    `| simulator: ${u.devices.toLocaleString('en-US')} devices × ${Math.round(u.imageBytes / 1024)} KiB, ${u.loss * 100}% loss | ${u.updated === u.devices ? `all ${u.devices} updated in ${u.seconds} s` : `${u.updated}/${u.devices} updated, the last after ${u.seconds} s (${u.devices - u.updated} never)`} `
      + `(time-to-update p50 ${round(t.p50 / 1000)} s, p95 ${round(t.p95 / 1000)} s, p99 ${round(t.p99 / 1000)} s), bricked ${u.bricked}; simulator ${u.simCpuSeconds} CPU s, `
      + `${u.simRssPeakMb} MB peak; server ${u.serverCpuSeconds} CPU s, ${u.serverRssPeakMb} MB peak | | | | |`,
  ];
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({ options: { scale: { type: 'string' }, devices: { type: 'string' }, size: { type: 'string' }, loss: { type: 'string' }, idle: { type: 'string' } } });
  const size = (v: string): number => Number.parseInt(v, 10) * (/k$/i.test(v) ? 1024 : /m$/i.test(v) ? 1024 * 1024 : 1);
  const result = await benchFleet({
    scale: (values.scale ?? '1000,10000').split(',').filter(Boolean).map(Number),
    idleSeconds: Number(values.idle ?? 10),
    update: { devices: Number(values.devices ?? 1000), imageBytes: size(values.size ?? '256k'), loss: Number(values.loss ?? 0.05) },
    limitMs: 600_000,
    log: (line) => process.stderr.write(`bench: ${line}\n`),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n\n${fleetTable(result).join('\n')}\n`);
}
