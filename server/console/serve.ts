/**
 * The operator's web console: static files at / and /console/*, served from memory.
 *
 * Nothing is built: the console's own ES modules (./public/) and the few library files it
 * imports (preact, htm, uPlot, from the installed node_modules) are read once at start-up from an
 * allow-list, so nothing else on disk can be asked for. The browser finds the libraries through
 * an import map in index.html. Every answer carries a strict Content-Security-Policy: scripts only
 * from this origin plus the import map itself, allowed by its SHA-256 (import maps must be inline),
 * never 'unsafe-inline'; styles only from this origin; requests only to this origin; no framing.
 *
 * Sign-in: the console keeps the API token in sessionStorage (gone when the tab closes, never in a
 * URL) and sends it as `Authorization: Bearer` with fetch; live views poll (the API's own auth, no
 * cookie, so no CSRF surface and no new server-side session to guard).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from '../api/errors.ts';
import { fromRoot } from '../root.ts';

/** One file the console serves, ready to send. */
interface Asset { body: Buffer; gzip: Buffer; type: string; etag: string; cache: string }

const PUBLIC = fromRoot('server', 'console', 'public');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml',
};
/** The console's own files (public/): revalidated on each load (ETag), so an upgrade shows at once. */
const OWN = ['app.css', 'api.js', 'app.js', 'ui.js', 'overview.js', 'devices.js', 'device.js', 'firmware.js', 'campaigns.js', 'campaign.js', 'alerts.js'];
/** Library files: [package, its file, the module specifier the import map gives it (none: a stylesheet)]. */
const VENDOR: Array<[string, string, string | undefined]> = [
  ['preact', 'dist/preact.mjs', 'preact'],
  ['preact', 'hooks/dist/hooks.mjs', 'preact/hooks'],
  ['htm', 'dist/htm.mjs', 'htm'],
  ['htm', 'preact/index.mjs', 'htm/preact'],
  ['uplot', 'dist/uPlot.esm.js', 'uplot'],
  ['uplot', 'dist/uPlot.min.css', undefined],
];

const sha256 = (b: Buffer | string, enc: 'hex' | 'base64'): string => createHash('sha256').update(b).digest(enc);
const typeOf = (name: string): string => TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';

function asset(body: Buffer, type: string, cache: string): Asset {
  return { body, gzip: gzipSync(body, { level: 9 }), type, etag: `"${sha256(body, 'hex').slice(0, 32)}"`, cache };
}

/** The folder and version of an installed package (found from its main module: some export no package.json). */
function packageDir(name: string): { dir: string; version: string } {
  let main: string;
  try { main = import.meta.resolve(name); } catch { throw new Error(`the console needs the package ${name}: run npm install`); }
  let dir = dirname(fileURLToPath(main));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name && pkg.version) return { dir, version: pkg.version };
    } catch { /* not here: one folder up */ }
    const up = dirname(dir);
    if (up === dir) throw new Error(`the console needs the package ${name}: run npm install`);
    dir = up;
  }
}

/** Every file the console serves, by URL path, and the CSP of its pages. */
export function consoleAssets(): { assets: Map<string, Asset>; csp: string; vendorUrls: string[] } {
  const assets = new Map<string, Asset>();
  const imports: Record<string, string> = {};
  const vendorUrls: string[] = [];
  for (const [pkg, file, specifier] of VENDOR) {
    const { dir, version } = packageDir(pkg);
    // The version is in the URL, so a library file never changes under its URL: cached for a year.
    const url = `/console/vendor/${pkg}@${version}/${file}`;
    assets.set(url, asset(readFileSync(join(dir, file)), typeOf(file), 'public, max-age=31536000, immutable'));
    vendorUrls.push(url);
    if (specifier !== undefined) imports[specifier] = url;
  }
  for (const name of OWN) assets.set(`/console/${name}`, asset(readFileSync(join(PUBLIC, name)), typeOf(name), 'no-cache'));
  const importMap = JSON.stringify({ imports });
  const uplotCss = vendorUrls.find((u) => u.endsWith('.css'))!;
  const html = readFileSync(join(PUBLIC, 'index.html'), 'utf8').replace('IMPORT_MAP', importMap).replace('UPLOT_CSS', uplotCss);
  assets.set('/', asset(Buffer.from(html), typeOf('index.html'), 'no-cache'));
  const csp = [
    "default-src 'none'", `script-src 'self' 'sha256-${sha256(importMap, 'base64')}'`, "style-src 'self'", "connect-src 'self'",
    "img-src 'self' data:", "font-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'",
  ].join('; ');
  return { assets, csp, vendorUrls };
}

/** Serves the console at / (index.html) and /console/* (its modules, styles and libraries). */
export function consoleRoutes(app: FastifyInstance): void {
  const { assets, csp } = consoleAssets();
  const send = async (req: FastifyRequest, reply: FastifyReply, path: string): Promise<unknown> => {
    const a = assets.get(path);
    if (a === undefined) throw new HttpError('FERRY_NOT_FOUND', `no console file ${path}`);
    reply.headers({
      'content-security-policy': csp, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY', 'cross-origin-opener-policy': 'same-origin', 'cross-origin-resource-policy': 'same-origin',
      'cache-control': a.cache, etag: a.etag, vary: 'Accept-Encoding', 'content-type': a.type,
    });
    if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (gzip) reply.header('content-encoding', 'gzip');
    return reply.send(gzip ? a.gzip : a.body);
  };
  const schema = { hide: true, querystring: { type: 'object', additionalProperties: false } } as const;
  app.get('/', { schema: { ...schema, summary: 'The web console' } }, (req, reply) => send(req, reply, '/'));
  app.get<{ Params: { '*': string } }>('/console/*', { schema: { ...schema, summary: 'The web console\'s files' } },
    (req, reply) => send(req, reply, `/console/${req.params['*']}`));
}
