/**
 * The API's errors: every refusal is a 4xx (a device's failure a 502 or 504) with a JSON body
 * { statusCode, error, message, code }; `code` is one of the catalogue's (../error-codes.ts) and
 * the status is its (error-status.ts). A 500 says FERRY_INTERNAL and nothing more.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DecodeError } from '../../protocols/errors.ts';
import { PackageError } from '../../protocols/package.ts';
import { FerryError, type FerryCode } from '../errors.ts';
import { HTTP_STATUS } from './error-status.ts';
import { noteRefusal } from './request-log.ts';

/** A refusal of the API's own, and the headers it carries (WWW-Authenticate on a 401). */
export class HttpError extends FerryError {
  override name = 'HttpError';
  readonly headers: Record<string, string>;
  constructor(code: FerryCode, message: string, headers: Record<string, string> = {}) {
    super(code, message);
    this.headers = headers;
  }
}

const NAMES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  406: 'Not Acceptable', 409: 'Conflict', 413: 'Payload Too Large', 414: 'URI Too Long', 415: 'Unsupported Media Type',
  422: 'Unprocessable Entity', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

/** Fastify's own refusals (its error codes), as ours. */
const FASTIFY_CODES: Record<string, FerryCode> = {
  FST_ERR_VALIDATION: 'FERRY_VALIDATION',
  FST_ERR_CTP_INVALID_JSON_BODY: 'FERRY_BAD_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'FERRY_BAD_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'FERRY_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'FERRY_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_MAX_PARAM_LENGTH: 'FERRY_URI_TOO_LONG',
  FST_ERR_NOT_FOUND: 'FERRY_NOT_FOUND',
};

/** Other client errors (of Fastify's plugins, of Node's HTTP parsing) by their status; any other 4xx is a FERRY_BAD_REQUEST. */
const BY_STATUS: Record<number, FerryCode> = {
  401: 'FERRY_UNAUTHORIZED', 403: 'FERRY_FORBIDDEN', 404: 'FERRY_NOT_FOUND', 413: 'FERRY_PAYLOAD_TOO_LARGE',
  414: 'FERRY_URI_TOO_LONG', 415: 'FERRY_UNSUPPORTED_MEDIA_TYPE',
};

/** The code an error answers with: a FerryError's own, protocols/'s decoding and package errors, Fastify's, else FERRY_INTERNAL. */
export function apiCodeOf(err: unknown): FerryCode {
  if (err instanceof FerryError) return err.code;
  if (err instanceof DecodeError) return 'FERRY_DECODE';
  if (err instanceof PackageError) return 'FERRY_PACKAGE_INVALID';
  const { code, statusCode } = err as Partial<FastifyError>;
  const known = code === undefined ? undefined : FASTIFY_CODES[code];
  if (known !== undefined) return known;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) return BY_STATUS[statusCode] ?? 'FERRY_BAD_REQUEST';
  return 'FERRY_INTERNAL';
}

/** The JSON body of an error answer. */
export function errorBodyOf(code: FerryCode, message: string): { statusCode: number; error: string; message: string; code: FerryCode } {
  const status = HTTP_STATUS[code];
  return status === 500
    ? { statusCode: 500, error: NAMES[500]!, message: 'internal error', code: 'FERRY_INTERNAL' }
    : { statusCode: status, error: NAMES[status] ?? 'Error', message, code };
}

/** What the request said its body is, for a 415: `Content-Type "text/plain"`, or `no Content-Type`. */
export function sentType(req: FastifyRequest): string {
  const type = req.headers['content-type'];
  return type === undefined ? 'no Content-Type' : `Content-Type ${JSON.stringify(String(type).slice(0, 64))}`;
}

/** The firmware upload: its body is the image, its limit --max-upload-mb. */
const UPLOAD = 'POST /api/v1/firmware';
const MIB = 1024 * 1024;

/**
 * Fastify's refusals of a body, said so the caller knows what to change: a 413 names the limit
 * (and, for the firmware upload, the flag that sets it); a 415 names the type to send.
 */
function explained(err: unknown, req: FastifyRequest): string {
  const { code, message } = err as Partial<FastifyError> & Error;
  if (code !== 'FST_ERR_CTP_BODY_TOO_LARGE' && code !== 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return message;
  const route = `${req.method} ${req.routeOptions.url ?? ''}`;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const limit = req.routeOptions.bodyLimit ?? MIB;
    const size = limit % MIB === 0 ? `${limit / MIB} MiB` : `${limit} bytes`;
    return route === UPLOAD
      ? `the upload is larger than this server's limit of ${size} (--max-upload-mb / FERRY_MAX_UPLOAD_MB)`
      : `the request body is larger than the limit of ${size}`;
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const sent = sentType(req);
    const want = route === UPLOAD ? 'send the image or package as application/octet-stream'
      : route === 'POST /api/v1/credentials/import' ? 'send a JSON array as application/json, or CSV as text/csv' : 'send a JSON body as application/json';
    return `${want} (got ${sent})`;
  }
  return message;
}

/** Answers an error: the handler of every route's, and Fastify's `frameworkErrors` (a URL that does not decode, a path parameter too long). */
export function answerError(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  const body = errorBodyOf(apiCodeOf(err), explained(err, req));
  if (err instanceof HttpError) void reply.headers(err.headers);
  if (body.statusCode === 500) req.log.error({ err }, 'request failed');
  else noteRefusal(req, body.code, body.message); // in the request's one line (request-log.ts)
  void reply.code(body.statusCode).send(body);
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(answerError);
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBodyOf('FERRY_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`));
  });
}
