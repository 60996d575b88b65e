/**
 * The socket fuzzers on their own (`npm run fuzz` runs them with the decoder fuzzers):
 *
 *   node --import tsx test/fuzz/sockets-run.ts [--runs N] [--seed S] [--only sockets-coap,sockets-download] [--together]
 *
 * --runs: datagrams per socket (default 200,000); --together: both sockets of one server,
 * interleaved, instead of a server per socket. Prints per socket the datagrams sent, the checks
 * passed, the answers by code, the largest RSS and the time, then one JSON summary line; exit 1
 * on any finding.
 */
import { pathToFileURL } from 'node:url';
import { describeReport, fuzzSockets, runSocketTarget, type SocketName, type SocketsReport } from './sockets.ts';

interface Args { runs: number; seed: number; only: SocketName[]; together: boolean }

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { runs: 200_000, seed: Date.now() % 0x7fffffff, only: ['coap', 'download'], together: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--runs') args.runs = Number(value().replace(/_/g, ''));
    else if (a === '--seed') args.seed = Number(value());
    else if (a === '--only') args.only = value().split(',').map((s) => s.replace(/^sockets-/, '') as SocketName);
    else if (a === '--together') args.together = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(args.runs) || args.runs < 0) throw new Error('--runs takes a whole number');
  if (!Number.isInteger(args.seed)) throw new Error('--seed takes a whole number');
  for (const s of args.only) if (s !== 'coap' && s !== 'download') throw new Error(`no socket ${s} (coap, download)`);
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const progress = (_sent: number, line: string): void => { process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`); };
  const reports: SocketsReport[] = [];
  if (args.together) {
    reports.push(await fuzzSockets({ sockets: args.only, perSocket: args.runs, seed: args.seed, progress }));
  } else {
    for (const s of args.only) reports.push((await runSocketTarget(s, args.runs, args.seed, progress)).report);
  }
  for (const r of reports) for (const line of describeReport(r)) process.stdout.write(`${line}\n`);
  const summary = {
    family: 'sockets', seed: args.seed,
    sockets: reports.flatMap((r) => r.sockets.map((s) => ({
      socket: s.socket, sent: s.sent, checks: s.checks, checksPassed: s.checksPassed, responses: s.responses, kernelDrops: s.kernelDrops,
      maxRssMb: r.rss.maxMb, startRssMb: r.rss.startMb, boundRssMb: r.rss.boundMb, ms: r.ms, alive: r.alive, unproven: r.unproven,
    }))),
    fiveXx: reports.flatMap((r) => r.fiveXx),
    failures: reports.flatMap((r) => r.failures),
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = summary.failures.length > 0 ? 1 : 0;
}

// test/fuzz/run.ts imports every sockets*.ts for its targets: only a direct run starts one.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // Ctrl-C or a kill: exit through 'exit', where the server child is killed (sockets-server.ts).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(2);
  });
}
