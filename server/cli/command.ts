/**
 * The frame of every admin API command (`ferry devices ls`, `ferry keys revoke`, …): its flags
 * parsed strictly, `--help`, `--json` (the API's answer as JSON) or a text table, and the exits:
 * 0 done, 1 the API refused or could not be reached (one line on stderr:
 * `ferry: <message> (<code>, HTTP <status>)`), 2 a usage mistake (one line and where the help is).
 * A subcommand may return another code (campaign watch, compliance --fail-on).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CommandUsageError } from '../errors.ts';
import { ApiClient, ApiError, ApiUnreachable, processIo, type CliIo } from './api.ts';
import { parseArgsMessage } from './usage.ts';

type Options = NonNullable<ParseArgsConfig['options']>;
type Flag = string | boolean | Array<string | boolean> | undefined;

/** What a subcommand runs with. */
export interface Ctx {
  /** Its positional arguments, as `Sub.args` names them. */
  args: string[];
  flags: Readonly<Record<string, Flag>>;
  io: CliIo;
  json: boolean;
  /** The API client (FERRY_URL, FERRY_TOKEN); a missing token is said when the command first calls. */
  api(): ApiClient;
  /** Prints the answer: as JSON with --json, else as `text` renders it. */
  show<T>(body: T, text: (body: T) => string): void;
}

export interface Sub {
  /** The positional arguments' names, e.g. ['ENDPOINT']; one ending in '?' is optional, in '…' takes the rest. */
  args?: readonly string[];
  options?: Options;
  /** The least role the route needs, named when FERRY_TOKEN is missing. */
  role: string;
  run(c: Ctx): Promise<number | void>;
}

const COMMON: Options = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } };

/**
 * Runs `sub` with `argv` (after the command's words) under `prog` ("ferry devices ls"), `help`
 * printed by --help. Every outcome is an exit code; only a bug throws.
 */
export async function runSub(prog: string, helpOf: string, help: string, sub: Sub, argv: string[], io: CliIo): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: { ...COMMON, ...sub.options }, strict: true, allowPositionals: true });
    } catch (err) {
      throw new CommandUsageError(parseArgsMessage(err));
    }
    if (parsed.values['help']) { io.out(help); return 0; }
    const names = sub.args ?? [];
    const least = names.filter((n) => !n.endsWith('?')).length;
    const most = names.some((n) => n.endsWith('…')) ? Infinity : names.length;
    if (parsed.positionals.length < least) throw new CommandUsageError(`${prog} needs ${names.slice(parsed.positionals.length, least).join(' ')}`);
    if (parsed.positionals.length > most) throw new CommandUsageError(`unexpected argument ${parsed.positionals[most]}`);
    const json = parsed.values['json'] === true;
    let client: ApiClient | undefined;
    const ctx: Ctx = {
      args: parsed.positionals, flags: parsed.values, io, json,
      api: () => (client ??= new ApiClient(io.env, sub.role)),
      show: (body, text) => io.out(json ? `${JSON.stringify(body, null, 2)}\n` : text(body)),
    };
    return (await sub.run(ctx)) ?? 0;
  } catch (err) {
    if (err instanceof CommandUsageError) { io.err(`ferry: ${err.message}; see ${helpOf} --help\n`); return 2; }
    return failed(io, err);
  }
}

/** A request that failed, said in one line: exit 1. Anything else is a bug, thrown on. */
export function failed(io: CliIo, err: unknown): 1 {
  if (err instanceof ApiError) { io.err(`ferry: ${err.message} (${err.code === undefined ? '' : `${err.code}, `}HTTP ${err.status})\n`); return 1; }
  if (err instanceof ApiUnreachable) { io.err(`ferry: ${err.message}\n`); return 1; }
  throw err;
}

/** `ferry <noun> <sub> …`: the subcommand by its name; none, `help` or --help prints `help`. */
export function nounCommand(noun: string, help: string, subs: Readonly<Record<string, Sub>>) {
  return async (argv: string[], io: CliIo = processIo): Promise<number> => {
    const [name, ...rest] = argv;
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') { io.out(help); return name === undefined ? 2 : 0; }
    const sub = Object.hasOwn(subs, name) ? subs[name] : undefined;
    if (sub === undefined) { io.err(`ferry: unknown command "${noun} ${name}"; see ferry ${noun} --help\n`); return 2; }
    return runSub(`${noun} ${name}`, `ferry ${noun}`, help, sub, rest, io);
  };
}

/** A command without subcommands (`ferry update`, `ferry compliance`). */
export function singleCommand(name: string, help: string, sub: Sub) {
  return (argv: string[], io: CliIo = processIo): Promise<number> => runSub(name, `ferry ${name}`, help, sub, argv, io);
}

/** A flag's string value (the last one given), or undefined. */
export function str(c: Ctx, name: string): string | undefined {
  const v = c.flags[name];
  const last = Array.isArray(v) ? v[v.length - 1] : v;
  return typeof last === 'string' ? last : undefined;
}

/** A repeatable flag's values, comma-separated lists split. */
export function strs(c: Ctx, name: string): string[] {
  const v = c.flags[name];
  return (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((x): x is string => typeof x === 'string')
    .flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

/** A positive integer argument or flag value; `what` names it in the usage error. */
export function positive(text: string | undefined, what: string): number {
  if (text === undefined || !/^[1-9][0-9]{0,14}$/.test(text)) throw new CommandUsageError(`${what} is a positive integer, not "${text ?? ''}"`);
  return Number(text);
}

/** An optional positive integer flag (--limit N). */
export const positiveFlag = (c: Ctx, name: string): number | undefined => (str(c, name) === undefined ? undefined : positive(str(c, name), `--${name}`));

/** A file the command was given, read; one it cannot read is a usage mistake. */
export async function readArg(file: string): Promise<Buffer>;
export async function readArg(file: string, encoding: 'utf8'): Promise<string>;
export async function readArg(file: string, encoding?: 'utf8'): Promise<Buffer | string> {
  try {
    return await readFile(file, encoding);
  } catch (err) {
    throw new CommandUsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** A path segment. */
export const seg = (s: string): string => encodeURIComponent(s);

/** An instant as the API writes it, to the second; '-' for none. */
export const when = (at: string | null | undefined): string => (at === null || at === undefined ? '-' : at.replace(/\.\d{3}Z$/, 'Z'));

/** Columns padded to their widest cell (those in `right` aligned right), one row a line. */
export function table(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | null | undefined>>, right: readonly number[] = []): string {
  const cells = [header.map(String), ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)));
  return cells.map((r) => r.map((c, i) => (right.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}
