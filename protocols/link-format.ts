/**
 * CoRE Link Format (RFC 6690 §2, content-format 40) and its LwM2M use in the Register and Update
 * payloads (LwM2M 1.1 Core, Register operation: </>;rt="oma.lwm2m";ct=…,</1/0>,</3/0>,…).
 */
import { DecodeError } from './errors.ts';
import { MAX_ID } from './path.ts';

export interface Link {
  uri: string;
  params: Record<string, string | true>;
}

export interface RegisteredObjects {
  rootPath: string;
  contentFormats: number[];
  objects: Array<{ objectId: number; version?: string; instances: number[] }>;
}

const MAX_INPUT_BYTES = 64 * 1024;
const MAX_LINKS = 10_000;

/** RFC 5987 attr-char, plus '*' for RFC 6690 ext-name-star ("title*"). */
const PARMNAME_CHAR = /[A-Za-z0-9!#$&+\-.^_`|~*]/;
/** RFC 6690 §2 ptokenchar. */
const PTOKEN = /^[!#$%&'()*+\-./0-9:<=>?@A-Z[\]^_`a-z{|}~]+$/;
const PTOKEN_CHAR = /[!#$%&'()*+\-./0-9:<=>?@A-Z[\]^_`a-z{|}~]/;
/** Attributes that RFC 6690 §2 (and its examples) always carry as quoted-string. */
/** RFC 2616 §2.2 CTL but HT (LWS is TEXT), plus the C1 controls, which no LwM2M attribute has a use for. */
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;
const QUOTED_PARAMS = new Set(['rt', 'if', 'rel', 'rev', 'anchor', 'title']);

/** Parses a link-format payload. Whitespace is allowed around ',' and ';'. */
export function parseLinkFormat(text: string): Link[] {
  if (text.length > MAX_INPUT_BYTES || Buffer.byteLength(text, 'utf8') > MAX_INPUT_BYTES) {
    throw invalid('link-format payload is larger than 64 KiB');
  }
  const links: Link[] = [];
  let pos = skipSpace(text, 0);
  if (pos === text.length) return links;
  for (;;) {
    if (text[pos] !== '<') throw invalid(`expected "<" at offset ${pos}`);
    const close = text.indexOf('>', pos + 1);
    if (close < 0) throw invalid(`unterminated "<" at offset ${pos}`);
    const uri = text.slice(pos + 1, close);
    if (/[\u0000-\u0020\u007f<"]/.test(uri)) throw invalid(`bad character in URI at offset ${pos + 1}`);
    const params: Record<string, string | true> = {};
    pos = skipSpace(text, close + 1);
    while (text[pos] === ';') {
      pos = skipSpace(text, pos + 1);
      const nameStart = pos;
      while (pos < text.length && PARMNAME_CHAR.test(text[pos] as string)) pos++;
      if (pos === nameStart) throw invalid(`bad parameter name at offset ${nameStart}`);
      const name = text.slice(nameStart, pos);
      let value: string | true = true;
      if (text[pos] === '=') {
        pos++;
        if (text[pos] === '"') {
          [value, pos] = readQuoted(text, pos);
        } else {
          const valueStart = pos;
          while (pos < text.length && PTOKEN_CHAR.test(text[pos] as string)) pos++;
          if (pos === valueStart) throw invalid(`missing value for parameter "${clip(name)}" at offset ${valueStart}`);
          value = text.slice(valueStart, pos);
        }
      }
      // A repeated parameter keeps its first value; defineProperty so "__proto__" is just a name.
      if (!Object.hasOwn(params, name)) {
        Object.defineProperty(params, name, { value, enumerable: true, writable: true, configurable: true });
      }
      pos = skipSpace(text, pos);
    }
    links.push({ uri, params });
    if (links.length > MAX_LINKS) throw invalid(`more than ${MAX_LINKS} links`);
    if (pos === text.length) return links;
    if (text[pos] !== ',') throw invalid(`expected "," or ";" at offset ${pos}`);
    pos = skipSpace(text, pos + 1);
  }
}

/** Formats links; rt, if, rel, rev, anchor, title and any value that is not a ptoken are quoted. */
export function formatLinkFormat(links: readonly Link[]): string {
  return links
    .map((link) => {
      if (/[\u0000-\u0020\u007f<>"]/.test(link.uri)) throw new RangeError(`URI cannot go in a link: ${link.uri}`);
      let out = `<${link.uri}>`;
      for (const [name, value] of Object.entries(link.params)) {
        if (name.length === 0 || ![...name].every((c) => PARMNAME_CHAR.test(c))) {
          throw new RangeError(`bad link parameter name: ${name}`);
        }
        if (value === true) out += `;${name}`;
        else if (QUOTED_PARAMS.has(name) || !PTOKEN.test(value)) out += `;${name}="${value.replace(/["\\]/g, '\\$&')}"`;
        else out += `;${name}=${value}`;
      }
      return out;
    })
    .join(',');
}

/**
 * The objects of a Register/Update payload: the root link (rt="oma.lwm2m") gives the root path
 * (default '/') and the content formats (ct); </1>;ver=1.1, </1/0>, </3/0>, </5> give the objects.
 * Any other link (a resource path, a name, another host, reserved ID 65535) is not an LwM2M
 * object or instance: DecodeError link.path (Core §6.2.1 lists only objects and instances).
 */
export function objectsFromLinks(links: readonly Link[]): RegisteredObjects {
  // The root link is the one with rt="oma.lwm2m", else a plain </> (clients send </>;ct=11543).
  const root = links.find((link) => isRootLink(link)) ?? links.find((link) => link.uri === '/');
  let rootPath = '/';
  let contentFormats: number[] = [];
  if (root) {
    rootPath = root.uri.replace(/\/+$/, '') || '/';
    contentFormats = parseContentFormats(root.params['ct']);
  }
  const prefix = rootPath === '/' ? '' : rootPath;
  const objects = new Map<number, { version?: string; instances: Set<number> }>();
  for (const link of links) {
    if (link === root) continue;
    // Under an alternate root the links are relative to it; a plain /o/i link outside it is
    // taken as well, since some clients list their objects unprefixed.
    const underRoot = prefix !== '' && link.uri.startsWith(prefix + '/');
    const ids = objectPathIds(underRoot ? link.uri.slice(prefix.length) : link.uri);
    if (!ids) throw new DecodeError('link.path', `<${link.uri.slice(0, 64)}> is not an LwM2M object or object instance`);
    const [objectId, instanceId] = ids;
    let entry = objects.get(objectId);
    if (!entry) {
      entry = { instances: new Set() };
      objects.set(objectId, entry);
    }
    const ver = link.params['ver'];
    if (entry.version === undefined && typeof ver === 'string') entry.version = ver;
    if (instanceId !== undefined) entry.instances.add(instanceId);
  }
  return {
    rootPath,
    contentFormats,
    objects: [...objects.entries()]
      .sort(([a], [b]) => a - b)
      .map(([objectId, entry]) => ({
        objectId,
        ...(entry.version === undefined ? {} : { version: entry.version }),
        instances: [...entry.instances].sort((a, b) => a - b),
      })),
  };
}

function isRootLink(link: Link): boolean {
  const rt = link.params['rt'];
  return typeof rt === 'string' && rt.split(' ').includes('oma.lwm2m') && link.uri.startsWith('/');
}

/** ct=110 or ct="60 110 11542" (RFC 7252 §7.2.1; LwM2M 1.1 Core, Register). */
function parseContentFormats(ct: string | true | undefined): number[] {
  if (ct === undefined) return [];
  if (ct === true) throw invalid('ct on the root link has no value');
  const out: number[] = [];
  for (const item of ct.split(' ').filter((s) => s.length > 0)) {
    if (!/^(?:0|[1-9][0-9]{0,4})$/.test(item) || Number(item) > 65535) {
      throw invalid('ct on the root link must be content-format numbers (0..65535) separated by spaces');
    }
    const n = Number(item);
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

/** '/3' → [3], '/3/0' → [3, 0]; anything else (deeper, not numeric, reserved 65535) → null. */
function objectPathIds(relative: string): [number, number | undefined] | null {
  const m = /^\/(0|[1-9][0-9]{0,4})(?:\/(0|[1-9][0-9]{0,4}))?$/.exec(relative);
  if (!m) return null;
  const objectId = Number(m[1]);
  const instanceId = m[2] === undefined ? undefined : Number(m[2]);
  if (objectId >= MAX_ID || (instanceId !== undefined && instanceId >= MAX_ID)) return null;
  return [objectId, instanceId];
}

/**
 * RFC 2616 quoted-string with quoted-pair; returns the unquoted value and the offset after it.
 * qdtext and quoted-pair exclude CTLs (U+0000–U+001F, U+007F), so a NUL never reaches the store.
 */
function readQuoted(text: string, open: number): [string, number] {
  let out = '';
  let pos = open + 1;
  while (pos < text.length) {
    const c = text[pos] as string;
    if (c === '"') return [out, pos + 1];
    const quoted = c === '\\';
    if (quoted && pos + 1 >= text.length) break;
    const ch = quoted ? (text[pos + 1] as string) : c;
    if (CONTROL.test(ch)) {
      throw new DecodeError('link.control', `control character U+${ch.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()} in a quoted value at offset ${quoted ? pos + 1 : pos}`);
    }
    if (quoted) {
      out += ch;
      pos += 2;
      continue;
    }
    out += c;
    pos++;
  }
  throw invalid(`unterminated quoted string at offset ${open}`);
}

function skipSpace(text: string, pos: number): number {
  while (pos < text.length && (text[pos] === ' ' || text[pos] === '\t' || text[pos] === '\r' || text[pos] === '\n')) pos++;
  return pos;
}

/** A name as a reason quotes it: its first 40 characters (a name may run to the 64 KiB cap). */
function clip(name: string): string {
  return name.length > 40 ? `${name.slice(0, 40)}…` : name;
}

function invalid(reason: string): DecodeError {
  return new DecodeError('link.invalid', reason);
}
