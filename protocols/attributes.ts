/**
 * LwM2M attributes (LwM2M 1.1 Core §5.1.2 "Attributes"): the notification attributes a server
 * sets with Write-Attributes as Uri-Query options (Core §5.4.4: ?pmin=10&pmax=60; a name without
 * a value removes the attribute) and the attributes a client reports in a Discover answer
 * (</3/0/7>;dim=2;pmin=10, plus ver, rt and ct).
 *
 * Rules (Core §5.1.2, Table "Notification Class Attributes"): pmin, pmax, epmin, epmax are
 * non-negative integers of seconds; gt, lt, st are decimal numbers, st not negative;
 * pmin <= pmax, epmin <= epmax, lt < gt, and lt + 2*st < gt when all three are set.
 */
import { DecodeError } from './errors.ts';
import type { Link } from './link-format.ts';

export interface Attributes {
  /** Notification attributes; null means "remove" (a Write-Attributes name without a value). */
  pmin?: number | null;
  pmax?: number | null;
  gt?: number | null;
  lt?: number | null;
  st?: number | null;
  epmin?: number | null;
  epmax?: number | null;
  /** Discover only: number of resource instances, object version, resource type, content formats. */
  dim?: number;
  ver?: string;
  rt?: string;
  ct?: number[];
}

type NotificationName = 'pmin' | 'pmax' | 'gt' | 'lt' | 'st' | 'epmin' | 'epmax';
const NOTIFICATION: readonly NotificationName[] = ['pmin', 'pmax', 'gt', 'lt', 'st', 'epmin', 'epmax'];
const PERIODS = new Set<string>(['pmin', 'pmax', 'epmin', 'epmax']);
const MAX_PERIOD = 2 ** 31 - 1;
const INTEGER = /^(?:0|[1-9][0-9]{0,9})$/;
const DECIMAL = /^-?(?:0|[1-9][0-9]{0,19})(?:\.[0-9]{1,20})?$/;
const MAX_QUERY_SEGMENTS = 32;

/** Parses the Uri-Query options of a Write-Attributes request. Unknown or repeated names are errors. */
export function parseAttributesQuery(query: readonly string[]): Attributes {
  if (query.length > MAX_QUERY_SEGMENTS) throw invalid(`more than ${MAX_QUERY_SEGMENTS} query parameters`);
  const out: Attributes = {};
  for (const segment of query) {
    const eq = segment.indexOf('=');
    const name = eq < 0 ? segment : segment.slice(0, eq);
    if (!(NOTIFICATION as readonly string[]).includes(name)) {
      throw new DecodeError('attributes.unknown', `"${name.slice(0, 20)}" is not a writable attribute (${NOTIFICATION.join(', ')})`);
    }
    const key = name as NotificationName;
    if (out[key] !== undefined) throw invalid(`${key} is given twice`);
    out[key] = eq < 0 ? null : parseNotificationValue(key, segment.slice(eq + 1));
  }
  checkRules(out);
  return out;
}

/** The Uri-Query options of a Write-Attributes request, in a fixed order; null values remove. */
export function formatAttributesQuery(a: Attributes): string[] {
  const out: string[] = [];
  for (const name of NOTIFICATION) {
    const value = a[name];
    if (value === undefined) continue;
    if (value === null) {
      out.push(name);
      continue;
    }
    const text = PERIODS.has(name) ? String(value) : plainDecimal(value);
    try {
      parseNotificationValue(name, text);
    } catch (e) {
      if (e instanceof DecodeError) throw new RangeError(e.reason);
      throw e;
    }
    out.push(`${name}=${text}`);
  }
  try {
    checkRules(a);
  } catch (e) {
    if (e instanceof DecodeError) throw new RangeError(e.reason);
    throw e;
  }
  return out;
}

/** The attributes of one link of a Discover answer; other link parameters are ignored. */
export function attributesFromLink(link: Link): Attributes {
  const out: Attributes = {};
  const p = link.params;
  for (const name of NOTIFICATION) {
    const value = Object.hasOwn(p, name) ? p[name] : undefined;
    if (value !== undefined) out[name] = value === true ? null : parseNotificationValue(name, value);
  }
  const dim = Object.hasOwn(p, 'dim') ? p['dim'] : undefined;
  if (dim !== undefined) {
    if (dim === true || !INTEGER.test(dim) || Number(dim) > 65535) throw invalid('dim must be an integer of 0..65535');
    out.dim = Number(dim);
  }
  const ver = Object.hasOwn(p, 'ver') ? p['ver'] : undefined;
  if (ver !== undefined) {
    if (ver === true || !/^[0-9]{1,3}\.[0-9]{1,3}$/.test(ver)) throw invalid('ver must be a version such as 1.1');
    out.ver = ver;
  }
  const rt = Object.hasOwn(p, 'rt') ? p['rt'] : undefined;
  if (rt !== undefined) {
    if (rt === true) throw invalid('rt needs a value');
    out.rt = rt;
  }
  const ct = Object.hasOwn(p, 'ct') ? p['ct'] : undefined;
  if (ct !== undefined) {
    // RFC 7252 §7.2.1: one number, or several separated by spaces in a quoted string.
    const items = ct === true ? [] : ct.split(' ').filter((s) => s.length > 0);
    if (items.length === 0 || !items.every((s) => INTEGER.test(s) && Number(s) <= 65535)) {
      throw invalid('ct must be content-format numbers (0..65535) separated by spaces');
    }
    out.ct = items.map(Number);
  }
  checkRules(out);
  return out;
}

function parseNotificationValue(name: NotificationName, text: string): number {
  if (PERIODS.has(name)) {
    if (!INTEGER.test(text) || Number(text) > MAX_PERIOD) throw invalid(`${name} must be a whole number of seconds (0..${MAX_PERIOD})`);
    return Number(text);
  }
  if (!DECIMAL.test(text)) throw invalid(`${name} must be a decimal number such as -1.5`);
  const n = Number(text);
  // 20 nines read as a double are 1e20, 21 digits: what is taken must be writable again.
  if (!DECIMAL.test(plainDecimal(n))) throw invalid(`${name} is too large (${text.slice(0, 24)} becomes ${plainDecimal(n).length} digits as a number)`);
  if (name === 'st' && n < 0) throw invalid('st must not be negative');
  return n === 0 ? 0 : n;
}

function checkRules(a: Attributes): void {
  const set = (v: number | null | undefined): v is number => typeof v === 'number';
  if (set(a.pmin) && set(a.pmax) && a.pmin > a.pmax) throw invalid('pmin must not be greater than pmax');
  if (set(a.epmin) && set(a.epmax) && a.epmin > a.epmax) throw invalid('epmin must not be greater than epmax');
  if (set(a.lt) && set(a.gt)) {
    if (!(a.lt < a.gt)) throw invalid('lt must be less than gt');
    if (set(a.st) && !(a.lt + 2 * a.st < a.gt)) throw invalid('lt + 2 * st must be less than gt');
  }
}

/** A number in plain decimal notation (no exponent): 1e-7 → "0.0000001". */
function plainDecimal(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`${n} is not a decimal number`);
  const text = String(n === 0 ? 0 : n);
  const m = /^(-?)([0-9])(?:\.([0-9]+))?e([+-][0-9]+)$/.exec(text);
  if (!m) return text;
  const [, sign, first, rest = '', exp] = m as unknown as [string, string, string, string | undefined, string];
  const digits = first + rest;
  const point = 1 + Number(exp);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + '0'.repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function invalid(reason: string): DecodeError {
  return new DecodeError('attributes.invalid', reason);
}
