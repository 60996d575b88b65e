/** The `ferry` command: serve (default), sim, sim-image, keygen, sign, verify. */
import { ConfigError, helpText, parseConfig } from './config.ts';
import { KeyFileError } from './firmware/keys.ts';
import { createLogger } from './log.ts';

const USAGE = `Usage: ferry <command> [options]

Commands:
  serve       run the server (CoAP/LwM2M endpoint, update engine, admin API)   [default]
  sim         run simulated LwM2M devices against a server
  sim-image   write a firmware image the simulated devices accept
  keygen      make a package signing key pair (KEYFILE, KEYFILE.pub)
  sign        wrap a raw image in a signed package
  verify      check a signed package and print its manifest

Run "ferry <command> --help" for a command's options.
`;

async function serve(argv: string[]): Promise<number> {
  let config;
  try {
    config = parseConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) { process.stderr.write(`ferry serve: ${err.message}\n\n${helpText()}`); return 2; }
    throw err;
  }
  if (config === 'help') { process.stdout.write(helpText()); return 0; }
  const log = createLogger({ level: config.logLevel });
  let ferry;
  try {
    // Imported here: the server's modules take a second to load, the other commands need none of them.
    ferry = await (await import('./main.ts')).startFerry(config, { log });
  } catch (err) {
    if (err instanceof KeyFileError) { process.stderr.write(`ferry serve: ${err.message}\n`); return 1; }
    throw err;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'stopping');
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await ferry.close();
  return 0;
}

async function main(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  if (first === undefined || first.startsWith('-')) {
    if (first === '--help' || first === '-h') { process.stdout.write(USAGE); return 0; }
    return serve(args);
  }
  switch (first) {
    case 'serve': return serve(rest);
    case 'sim': return (await import('../simulator/cli.ts')).simCommand(rest);
    case 'sim-image': return (await import('../simulator/cli.ts')).simImageCommand(rest);
    case 'keygen': return (await import('./keys-cli.ts')).keygenCommand(rest);
    case 'sign': return (await import('./keys-cli.ts')).signCommand(rest);
    case 'verify': return (await import('./keys-cli.ts')).verifyCommand(rest);
    case 'help': process.stdout.write(USAGE); return 0;
    default: process.stderr.write(`ferry: unknown command "${first}"\n\n${USAGE}`); return 2;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
  process.stderr.write(`ferry: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
