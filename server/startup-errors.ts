/**
 * Start-up failures a user causes (a port in use, an edited migration, an unreachable database, a
 * database directory another process uses, a bad key file) worded as one line that names the
 * setting to change; anything else is a bug and keeps its stack trace.
 */
import type { Config } from './config.ts';
import { DataDirLockedError, KeyFileError, MigrationError, SecretsKeyError } from './errors.ts';

const SOCKET_CODES: Record<string, string> = {
  EADDRINUSE: 'address in use', EACCES: 'permission denied (a port below 1024 needs privileges)',
  EADDRNOTAVAIL: 'no such address on this machine', EAFNOSUPPORT: 'address family not supported',
};
const DB_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused', ENOTFOUND: 'unknown host', ETIMEDOUT: 'timed out', ECONNRESET: 'connection reset',
  EAI_AGAIN: 'host name lookup failed', '28P01': 'password authentication failed', '28000': 'not authorised',
  '3D000': 'no such database', '57P03': 'the server is starting up or shutting down',
};
const FILE_CODES: Record<string, string> = {
  EACCES: 'permission denied', EPERM: 'operation not permitted', ENOTDIR: 'a part of the path is not a directory',
  EROFS: 'read-only file system', ENOSPC: 'no space left on the device',
};

type SystemError = Error & { code?: string; syscall?: string; address?: string; port?: number; path?: string };

/** The flag (and its variable) behind a socket that could not be bound. */
function socketSetting(err: SystemError, config: Config): string {
  const badHost = err.code === 'EADDRNOTAVAIL' || err.code === 'EAFNOSUPPORT';
  if (err.syscall === 'listen') return badHost ? '--api-host / FERRY_API_HOST' : '--api-port / FERRY_API_PORT';
  if (badHost) return '--coap-host / FERRY_COAP_HOST';
  if (err.port === config.coapPort) return '--coap-port / FERRY_COAP_PORT';
  return '--download-port / FERRY_DOWNLOAD_PORT';
}

/** One line for a user-caused start-up error, or undefined for anything else (a bug). */
export function startupErrorLine(err: unknown, config: Config): string | undefined {
  if (err instanceof MigrationError || err instanceof KeyFileError || err instanceof SecretsKeyError) return err.message;
  if (err instanceof DataDirLockedError) return `${err.message} (--db-dir / FERRY_DB_DIR)`;
  if (!(err instanceof Error)) return undefined;
  const e = err as SystemError;
  const code = e.code ?? '';
  if ((e.syscall === 'bind' || e.syscall === 'listen') && SOCKET_CODES[code] !== undefined) {
    const proto = e.syscall === 'bind' ? 'udp' : 'tcp';
    const where = e.address?.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
    return `cannot listen on ${proto} ${where}: ${SOCKET_CODES[code]} (${socketSetting(e, config)})`;
  }
  if (config.databaseUrl !== undefined && DB_CODES[code] !== undefined) {
    return `cannot open the database ${redacted(config.databaseUrl)}: ${DB_CODES[code]} (--database-url / DATABASE_URL)`;
  }
  if (config.databaseUrl === undefined && e.path !== undefined && FILE_CODES[code] !== undefined) {
    return `cannot open the database in ${config.dbDir}: ${e.path}: ${FILE_CODES[code]} (--db-dir / FERRY_DB_DIR)`;
  }
  return undefined;
}

/** The URL without its password. */
function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(DATABASE_URL)';
  }
}
