/** The API's error catalogue: every refusal is a 4xx with a JSON body { statusCode, error, message }. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { DuplicateVersionError, FirmwareDeletedError, FirmwareInUseError } from '../store/firmware.ts';
import { DuplicateTokenNameError } from '../store/tokens.ts';
import { UpdateInProgressError } from '../store/updates.ts';
import { DeviceNotFoundError, FirmwareNotFoundError, HardwareClassMismatchError } from '../fota/engine.ts';

export class HttpError extends Error {
  readonly statusCode: number;
  /** Headers the refusal carries (WWW-Authenticate on a 401). */
  readonly headers: Record<string, string>;
  constructor(statusCode: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.statusCode = statusCode;
    this.headers = headers;
  }
}

const NAMES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  406: 'Not Acceptable', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type',
  422: 'Unprocessable Entity', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

function statusOf(err: unknown): number {
  if (err instanceof HttpError) return err.statusCode;
  if (err instanceof DeviceNotFoundError || err instanceof FirmwareNotFoundError || err instanceof FirmwareDeletedError) return 404;
  if (err instanceof DuplicateVersionError || err instanceof UpdateInProgressError || err instanceof HardwareClassMismatchError
    || err instanceof FirmwareInUseError || err instanceof DuplicateTokenNameError) return 409;
  const code = (err as FastifyError).statusCode;
  if (typeof code === 'number' && code >= 400 && code < 500) return code;
  return 500;
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    const status = statusOf(err);
    const message = status === 500 ? 'internal error' : (err as Error).message;
    if (err instanceof HttpError) void reply.headers(err.headers);
    if (status === 500) req.log.error({ err }, 'request failed');
    else req.log.info({ status, reason: message }, 'request refused');
    void reply.code(status).send({ statusCode: status, error: NAMES[status] ?? 'Error', message });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });
}
