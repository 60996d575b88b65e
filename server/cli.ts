/**
 * The `ferry` command: serve (default), sim, sim-image, keygen, sign, verify, secrets-keygen, and
 * the admin API's clients (devices, fw, update, campaign, alerts, tokens, users, keys,
 * credentials, audit, compliance).
 */
import { ConfigError } from './errors.ts';
import { ferryVersion } from './root.ts';
import type { Db } from './store/db.ts';

const USAGE = `Usage: ferry <command> [options]

Commands:
  serve           run the server (CoAP/LwM2M endpoint, update engine, admin API)   [default]
  sim             run simulated LwM2M devices against a server
  sim-image       write a firmware image the simulated devices accept
  keygen          make a package signing key pair (KEYFILE, KEYFILE.pub)
  sign            wrap a raw image in a signed package
  verify          check a signed package and print its manifest
  secrets-keygen  make the master key file device PSKs are encrypted under (--secrets-key-file)

Through the admin API at FERRY_URL (default http://127.0.0.1:8080) with the token in FERRY_TOKEN:
  devices         list devices, show one
  fw              upload, list and delete firmware images
  update          update one device to a firmware image
  campaign        create, start, pause, resume, abort, show and watch campaigns
  alerts          list and acknowledge alerts
  tokens          list, create and revoke API tokens
  users           list, create users, set their roles, disable them
  keys            list, add, revoke the trusted package keys
  credentials     set, rotate, rm, ls and import device PSKs
  audit           verify the audit log's chain, or export the log
  compliance      the fleet's compliance report (vulnerable, outdated, … devices)

Run "ferry <command> --help" for a command's options; "ferry --version" prints the version.
`;

/** Set when the process must exit even though handles are left open (a start-up that failed half-way). */
let exitNow = false;

async function serve(argv: string[]): Promise<number> {
  // Imported here: the other commands start faster without the server's configuration and logger.
  const [{ helpText, parseConfig }, { createLogger }, { startupErrorLine }] = await Promise.all([
    import('./config.ts'), import('./log.ts'), import('./startup-errors.ts'),
  ]);
  let config;
  try {
    config = parseConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) { process.stderr.write(`ferry: ${err.message}; see ferry serve --help\n`); return 2; }
    throw err;
  }
  if (config === 'help') { process.stdout.write(helpText()); return 0; }
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  // Listening from the start: a SIGINT while PGlite opens (seconds) stops Ferry once the database is
  // open, and closes it, instead of killing the process in the middle of the open.
  let signalled: string | undefined;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => { stop = resolve; });
  const onSignal = (signal: string): void => {
    log.info({ signal }, 'stopping');
    signalled = signal;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let db: Db | undefined;
  let ferry;
  try {
    // Imported here: the server's modules take a second to load, the other commands need none of them.
    // The key files first: a missing one stops start-up at once, before a new database is made and migrated.
    await (await import('./startup-files.ts')).checkConfigFiles(config);
    const { openDb } = await import('./store/open.ts');
    log.info({ driver: config.databaseUrl ? 'pg' : 'pglite', ...(config.databaseUrl ? {} : { dir: config.dbDir }) }, 'opening the database');
    // PGlite locks its directory first: a second `ferry serve` on it stops here (DataDirLockedError),
    // before PGlite opens a file; closing the database, on every path below, releases the lock.
    db = await openDb({
      ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: config.dbDir, owner: 'ferry serve' }), log: (msg) => log.info(msg),
    });
    if (signalled === undefined) ferry = await (await import('./main.ts')).startFerry(config, { log, db });
  } catch (err) {
    await db?.close().catch(() => {});
    const line = startupErrorLine(err, config);
    if (line === undefined) throw err;
    process.stderr.write(`ferry: ${line}\n`);
    exitNow = true; // sockets or timers of the half-started server may still be open
    return 1;
  }
  await stopped;
  await ferry?.close();
  await db.close();
  log.info(ferry === undefined ? 'stopped during start-up, database closed' : 'database closed');
  return 0;
}

async function main(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  if (first === undefined || first.startsWith('-')) {
    if (first === '--help' || first === '-h') { process.stdout.write(USAGE); return 0; }
    if (first === '--version' || first === '-V') { process.stdout.write(`ferry ${ferryVersion()}\n`); return 0; }
    return serve(args);
  }
  switch (first) {
    case 'serve': return serve(rest);
    case 'sim': return (await import('../simulator/cli.ts')).simCommand(rest);
    case 'sim-image': return (await import('../simulator/cli.ts')).simImageCommand(rest);
    case 'keygen': return (await import('./keys-cli.ts')).keygenCommand(rest);
    case 'sign': return (await import('./keys-cli.ts')).signCommand(rest);
    case 'verify': return (await import('./keys-cli.ts')).verifyCommand(rest);
    case 'keys': return (await import('./keys-admin-cli.ts')).keysCommand(rest);
    case 'secrets-keygen': return (await import('./credentials/cli.ts')).secretsKeygenCommand(rest);
    case 'credentials': return (await import('./credentials/cli.ts')).credentialsCommand(rest);
    case 'audit': return (await import('./audit/cli.ts')).auditCommand(rest);
    case 'compliance': return (await import('./compliance/cli.ts')).complianceCommand(rest);
    case 'devices': return (await import('./cli/devices.ts')).devicesCommand(rest);
    case 'update': return (await import('./cli/devices.ts')).updateCommand(rest);
    case 'fw': return (await import('./cli/firmware.ts')).firmwareCommand(rest);
    case 'campaign': return (await import('./cli/campaign.ts')).campaignCommand(rest);
    case 'alerts': return (await import('./cli/alerts.ts')).alertsCommand(rest);
    case 'tokens': return (await import('./cli/tokens.ts')).tokensCommand(rest);
    case 'users': return (await import('./cli/users.ts')).usersCommand(rest);
    case 'version': process.stdout.write(`ferry ${ferryVersion()}\n`); return 0;
    case 'help': process.stdout.write(USAGE); return 0;
    default: process.stderr.write(`ferry: unknown command "${first}"; see ferry --help\n`); return 2;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  if (exitNow) process.exit(code);
}, (err: unknown) => {
  process.stderr.write(`ferry: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1); // a bug: whatever it left open must not keep the process alive
});
