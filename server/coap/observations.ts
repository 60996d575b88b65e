/**
 * The device observations of one server, one per (endpoint, path), shared by their owners (the
 * update engine, an operator through the API) and reference-counted. RFC 7641 §4.1: a device keeps
 * one entry per client and resource and a second GET+Observe replaces the token of the first, so
 * two independent observations of one path would silence one another and the first cancel would
 * end both. Here the second owner joins the stream and gets its current value; cancelling one
 * owner keeps it for the others; the last owner's cancel sends the deregistering GET (Observe=1).
 */
import type { ObserveReadStream } from 'coap';
import type { Logger } from '../log.ts';
import { DmError } from './dm-client.ts';
import { contentFormatOf } from './message.ts';

export interface Notification {
  code: string;
  contentFormat?: number;
  payload: Buffer;
}

export type OnValue = (r: Notification) => void;

interface Shared {
  /** Who asked, and where each wants the values. */
  owners: Map<string, OnValue>;
  /** The device's answer; undefined while the GET+Observe is on its way. */
  stream?: ObserveReadStream;
  /** The latest value: the first response or the last notification. */
  current?: Notification;
  /** Settles when the first response arrives (or the request fails). */
  ready: Promise<Notification>;
  /** The last owner cancelled before the device answered: deregister as soon as it does. */
  cancelled?: boolean;
}

export class Observations {
  private readonly byEndpoint = new Map<string, Map<string, Shared>>();
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  /**
   * Observes `path` for `owner`: joins the device's observation of it if there is one (resolving with
   * its current value, which also goes to onValue), else starts one with `start` (which sends the
   * GET+Observe and resolves with the stream and the first response). An owner observing again
   * keeps its place and gets the new onValue.
   */
  async observe(
    endpoint: string, path: string, owner: string, onValue: OnValue,
    start: () => Promise<{ stream: ObserveReadStream; first: Notification }>,
  ): Promise<Notification> {
    const paths = this.byEndpoint.get(endpoint) ?? new Map<string, Shared>();
    this.byEndpoint.set(endpoint, paths);
    const existing = paths.get(path);
    if (existing) {
      // Joining before the first response: that response reaches this owner with the others.
      const started = existing.stream !== undefined;
      existing.owners.set(owner, onValue);
      const first = await existing.ready;
      // The shared observation may have ended (forget, last cancel) while we waited.
      if (paths.get(path) !== existing || !existing.owners.has(owner)) throw new DmError('cancelled', `the observation of ${path} ended`);
      const value = existing.current ?? first;
      if (started) deliver(this.log, endpoint, path, onValue, value);
      return value;
    }
    const shared: Shared = { owners: new Map([[owner, onValue]]), ready: undefined as unknown as Promise<Notification> };
    shared.ready = start().then(({ stream, first }) => {
      if (paths.get(path) !== shared) { // forgotten or cancelled meanwhile
        closeQuietly(stream, shared.cancelled === true);
        throw new DmError('cancelled', `the observation of ${path} ended before the device answered`);
      }
      shared.stream = stream;
      shared.current = first;
      // The first value goes out now, before observe() resolves; the stream's copy of it is skipped.
      for (const fn of [...shared.owners.values()]) deliver(this.log, endpoint, path, fn, first);
      let skip = true;
      stream.on('data', (payload: Buffer) => {
        if (skip) { skip = false; return; }
        const n: Notification = { code: stream.code, contentFormat: contentFormatOf(stream), payload: Buffer.from(payload) };
        shared.current = n;
        for (const fn of [...shared.owners.values()]) deliver(this.log, endpoint, path, fn, n);
      });
      stream.on('error', () => undefined);
      return first;
    }, (err: unknown) => {
      if (paths.get(path) === shared) paths.delete(path);
      if (paths.size === 0 && this.byEndpoint.get(endpoint) === paths) this.byEndpoint.delete(endpoint);
      throw err;
    });
    paths.set(path, shared);
    return shared.ready;
  }

  /** Cancel Observe for one owner; false when it had none. The last owner's cancel deregisters on the device. */
  cancel(endpoint: string, path: string, owner: string): boolean {
    const paths = this.byEndpoint.get(endpoint);
    const shared = paths?.get(path);
    if (!paths || !shared || !shared.owners.delete(owner)) return false;
    if (shared.owners.size > 0) return true;
    paths.delete(path);
    if (paths.size === 0) this.byEndpoint.delete(endpoint);
    if (shared.stream) closeQuietly(shared.stream, true); // RFC 7641 §3.6: GET with Observe=1
    else shared.cancelled = true;
    return true;
  }

  /** The device rebooted, left or expired: its observations are gone on its side; drop ours. */
  forget(endpoint: string): void {
    const paths = this.byEndpoint.get(endpoint);
    for (const shared of paths?.values() ?? []) {
      shared.owners.clear();
      if (shared.stream) closeQuietly(shared.stream, false);
    }
    paths?.clear(); // an observation still on its way finds itself gone
    this.byEndpoint.delete(endpoint);
  }

  endpoints(): string[] {
    return [...this.byEndpoint.keys()];
  }

  paths(endpoint: string): string[] {
    return [...(this.byEndpoint.get(endpoint)?.keys() ?? [])];
  }

  owners(endpoint: string, path: string): string[] {
    return [...(this.byEndpoint.get(endpoint)?.get(path)?.owners.keys() ?? [])];
  }
}

function deliver(log: Logger, endpoint: string, path: string, fn: OnValue, n: Notification): void {
  try {
    fn(n);
  } catch (err) {
    log.warn({ err, endpoint, path }, 'notification handler failed');
  }
}

function closeQuietly(stream: ObserveReadStream, deregister: boolean): void {
  try {
    stream.removeAllListeners('data');
    stream.close(deregister);
  } catch { /* already closed */ }
}
