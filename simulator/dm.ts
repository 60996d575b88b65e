/**
 * The Device Management & Service Enablement interface, client side (LwM2M 1.1 Core §6.3,
 * Transport §6.4): the server's Read (GET), Discover (GET, Accept 40), Write (PUT, or POST on an
 * instance), Execute (POST on a resource), Observe (GET + Observe, RFC 7641),
 * Write-Attributes (PUT with only a query), and Create (POST on an object) and Delete (DELETE on
 * an instance) for the objects given as creatable, on our object instances.
 * Every error answer carries a short diagnostic payload (RFC 7252 §5.5.2).
 */
import { ContentFormat } from '../protocols/content-format.ts';
import { decodeContent } from '../protocols/content.ts';
import { DecodeError } from '../protocols/errors.ts';
import { decodeTlv, TlvType } from '../protocols/tlv.ts';
import { formatLinkFormat } from '../protocols/link-format.ts';
import type { Link } from '../protocols/link-format.ts';
import { formatPath, parsePath, pathFromSegments } from '../protocols/path.ts';
import type { Lwm2mPath } from '../protocols/path.ts';
import type { CoapEndpoint } from './coap/endpoint.ts';
import type { CoapReply, CoapRequest, ReplyFn, RequestHandler } from './coap/messages.ts';
import { Observers } from './coap/observe.ts';
import { writable } from './objects/model.ts';
import type { DmResult, ObjectInstance, ResourceValue } from './objects/model.ts';
import { decodeInstanceWrite, decodeWrite, encodeInstances, encodeResource, encodeResourceInstance } from './objects/values.ts';
import type { DeviceFormat, Encoded } from './objects/values.ts';

/** `from`: the server's address:port the request came from. */
export type DmEvent = { type: 'dm'; method: string; path: string; code: string; reason?: string; from: string };

const err = (code: string, reason: string): CoapReply => ({ code, payload: reason });

export interface DmOptions {
  log?: (e: DmEvent) => void;
  /** Writes (PUT/POST) on these paths go to their own handler, which replies itself (Block1 push on /5/0/0). */
  writeHandlers?: Readonly<Record<string, RequestHandler>>;
  /** The format announced as `ct` at registration and used for reads without Accept (default TLV). */
  contentFormat?: DeviceFormat;
  /** An alternate root path, e.g. '/lwm2m' (Core §6.2.1): announced at registration, objects served only under it. */
  rootPath?: string;
  /** Objects the server may Create instances of (POST /<object>) and Delete them from: id → new instance. */
  creatable?: Readonly<Record<number, (instanceId: number) => ObjectInstance>>;
  /** Called after a Create or Delete changed the instances (the device sends a registration update). */
  objectsChanged?: () => void;
  /** Answer 4.06 to an Accept of TLV: a SenML-only LwM2M 1.1 client (TLV is optional from 1.1 on). */
  refuseTlv?: boolean;
  /** Send no notification (the observe-lost fault): Observe is accepted, changes are never told. */
  silent?: boolean;
}

/** Core §6.3: the Security object (0) is not for a LwM2M Server to see or touch. */
const SECURITY_OBJECT = 0;

export class DeviceManagement {
  readonly observers: Observers;
  #instances: readonly ObjectInstance[];
  /** Every Execute that succeeded, with its arguments (Core §5.4.3), oldest first. */
  readonly executions: Array<{ path: string; args: string }> = [];
  readonly #creatable: Readonly<Record<number, (instanceId: number) => ObjectInstance>>;
  readonly #objectsChanged: (() => void) | undefined;
  readonly #log: ((e: DmEvent) => void) | undefined;
  readonly #writeHandlers: Readonly<Record<string, RequestHandler>>;
  readonly #format: DeviceFormat;
  /** Uri-Path segments of the alternate root; empty for '/'. */
  readonly #root: readonly string[];
  readonly #refuseTlv: boolean;
  readonly #silent: boolean;

  constructor(endpoint: CoapEndpoint, instances: readonly ObjectInstance[], opts: DmOptions = {}) {
    this.#instances = [...instances].sort((a, b) => a.objectId - b.objectId || a.instanceId - b.instanceId);
    this.observers = new Observers(endpoint);
    this.#log = opts.log;
    this.#writeHandlers = opts.writeHandlers ?? {};
    this.#format = opts.contentFormat ?? ContentFormat.TLV;
    this.#root = (opts.rootPath ?? '/').split('/').filter(Boolean);
    this.#refuseTlv = opts.refuseTlv === true;
    this.#silent = opts.silent === true;
    this.#creatable = opts.creatable ?? {};
    this.#objectsChanged = opts.objectsChanged;
  }

  /**
   * The Register payload: </>;rt="oma.lwm2m";ct=11542,</1>;ver=1.1,</1/0>,… (Core §6.2.1); under an
   * alternate root </lwm2m>;rt="oma.lwm2m";ct=11542,</lwm2m/1>;ver=1.1,</lwm2m/1/0>,…
   */
  links(): string {
    const prefix = this.#root.map((s) => `/${s}`).join('');
    const links: Link[] = [{ uri: prefix || '/', params: { rt: 'oma.lwm2m', ct: String(this.#format) } }];
    let last: number | undefined;
    for (const inst of this.#instances) {
      if (inst.objectId === SECURITY_OBJECT) continue;
      if (inst.objectId !== last) links.push({ uri: `${prefix}/${inst.objectId}`, params: { ver: inst.objectVersion } });
      last = inst.objectId;
      links.push({ uri: `${prefix}/${inst.objectId}/${inst.instanceId}`, params: {} });
    }
    return formatLinkFormat(links);
  }

  /** The endpoint's request handler. */
  readonly handle = (req: CoapRequest, reply: ReplyFn): void => {
    const underRoot = this.#root.every((s, i) => req.pathSegments[i] === s);
    if (!underRoot) {
      const reason = `objects are under the root path /${this.#root.join('/')}`;
      reply(err('4.04', reason));
      this.#log?.({ type: 'dm', method: req.method, path: `/${req.pathSegments.join('/')}`, code: '4.04', reason, from: `${req.peer.address}:${req.peer.port}` });
      return;
    }
    let path: Lwm2mPath;
    try {
      path = pathFromSegments(req.pathSegments.slice(this.#root.length));
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      reply(err('4.04', `not an LwM2M path: ${e.reason}`));
      return;
    }
    const own = req.method === 'PUT' || req.method === 'POST' ? this.#writeHandlers[formatPath(path)] : undefined;
    if (own !== undefined) {
      own(req, (answer) => {
        reply(answer);
        this.#logAnswer(req, path, answer);
      });
      return;
    }
    const { reply: answer, after } = path.objectId === SECURITY_OBJECT
      ? { reply: err('4.01', 'the Security object is not accessible to a LwM2M Server'), after: undefined }
      : this.#dispatch(req, path);
    reply(answer);
    this.#logAnswer(req, path, answer);
    after?.();
  };

  #logAnswer(req: CoapRequest, path: Lwm2mPath, answer: CoapReply): void {
    const reason = answer.code.startsWith('2.') || answer.payload === undefined ? undefined : String(answer.payload);
    this.#log?.({ type: 'dm', method: req.method, path: formatPath(path), code: answer.code, ...(reason === undefined ? {} : { reason }), from: `${req.peer.address}:${req.peer.port}` });
  }

  /** Resources of one instance changed value: notify whoever observes them or their parents. */
  changed(objectId: number, instanceId: number, resourceIds: readonly number[]): void {
    if (this.#silent) return;
    const paths = resourceIds.map((r) => `/${objectId}/${instanceId}/${r}`);
    this.observers.notify(
      (key) => paths.some((p) => p === key || p.startsWith(`${key}/`)),
      (o) => this.#read(parsePath(o.key), o.accept),
    );
  }

  #dispatch(req: CoapRequest, path: Lwm2mPath): { reply: CoapReply; after?: () => void } {
    switch (req.method) {
      case 'GET':
        if (req.options.accept === ContentFormat.LINK_FORMAT) return { reply: this.#discover(path) };
        return { reply: this.#observeOrRead(req, path) };
      case 'PUT':
        // Write-Attributes: a PUT with only a query (Core §6.3.4). Accepted; pmin/pmax are not applied.
        if (req.payload.length === 0 && req.options.contentFormat === undefined && req.options.uriQuery.length > 0) {
          return { reply: { code: '2.04' } };
        }
        return this.#write(req, path);
      case 'POST':
        if (path.resourceId !== undefined) return this.#execute(req, path);
        if (path.instanceId !== undefined) return this.#write(req, path);
        return this.#create(req, path.objectId);
      case 'DELETE':
        return this.#delete(path);
      default:
        return { reply: err('4.05', `${req.method} is not an LwM2M operation`) };
    }
  }

  #observeOrRead(req: CoapRequest, path: Lwm2mPath): CoapReply {
    const res = this.#read(path, req.options.accept);
    const observe = req.options.observe;
    if (observe === 0 && res.code === '2.05') return { ...res, observe: this.observers.add(formatPath(path), req) };
    if (observe === 1) this.observers.remove(req.peer, req.token);
    return res;
  }

  #read(path: Lwm2mPath, accept: number | undefined): CoapReply {
    if (this.#refuseTlv && accept === ContentFormat.TLV) return err('4.06', 'this device does not produce TLV (11542)');
    const found = this.#find(path);
    if ('code' in found) return found;
    const { instances, inst } = found;
    if (inst === undefined) return encoded(encodeInstances(instances, true, accept, this.#format));
    if (path.resourceId === undefined) return encoded(encodeInstances([inst], false, accept, this.#format));
    const def = inst.resources.find((r) => r.id === path.resourceId);
    if (def === undefined) return err('4.04', `no resource ${formatPath(path)}`);
    if (def.ops !== 'R' && def.ops !== 'RW') return err('4.05', `${formatPath(path)} is not readable`);
    const value = inst.read(def.id);
    if (value === undefined) return err('4.04', `no value at ${formatPath(path)}`);
    if (path.resourceInstanceId === undefined) return encoded(encodeResource(inst, def.id, value, accept, this.#format));
    const item = value.kind === 'integers' ? value.value[path.resourceInstanceId] : undefined;
    if (item === undefined) return err('4.04', `no resource instance ${formatPath(path)}`);
    return encoded(encodeResourceInstance(inst, path, item, accept));
  }

  #discover(path: Lwm2mPath): CoapReply {
    const found = this.#find(path);
    if ('code' in found) return found;
    const links: Link[] = [];
    const list = found.inst === undefined ? found.instances : [found.inst];
    if (path.instanceId === undefined) links.push({ uri: `/${path.objectId}`, params: { ver: list[0]?.objectVersion ?? '1.0' } });
    for (const inst of list) {
      if (path.resourceId === undefined) links.push({ uri: `/${inst.objectId}/${inst.instanceId}`, params: {} });
      for (const def of inst.resources) {
        if (path.resourceId !== undefined && def.id !== path.resourceId) continue;
        const v = def.kind === 'integers' ? inst.read(def.id) : undefined;
        const params: Link['params'] = v?.kind === 'integers' ? { dim: String(v.value.length) } : {};
        links.push({ uri: `/${inst.objectId}/${inst.instanceId}/${def.id}`, params });
      }
    }
    if (path.resourceId !== undefined && links.length === 0) return err('4.04', `no resource ${formatPath(path)}`);
    return { code: '2.05', contentFormat: ContentFormat.LINK_FORMAT, payload: formatLinkFormat(links) };
  }

  #write(req: CoapRequest, path: Lwm2mPath): { reply: CoapReply; after?: () => void } {
    const found = this.#find(path);
    if ('code' in found) return { reply: found };
    const inst = found.inst;
    if (inst === undefined) return { reply: err('4.05', 'Write on an object is not supported') };
    const cf = req.options.contentFormat;
    if (path.resourceId === undefined) {
      const d = decodeInstanceWrite(inst, cf, req.payload);
      if (!d.ok) return { reply: err(d.code, d.reason) };
      for (const id of d.values.keys()) {
        const def = inst.resources.find((r) => r.id === id);
        if (def === undefined || !writable(def)) return { reply: err('4.05', `/${inst.objectId}/${inst.instanceId}/${id} is not writable`) };
      }
      return applyAll([...d.values].map(([id, v]) => () => inst.write(id, v)));
    }
    if (path.resourceInstanceId !== undefined) return { reply: err('4.05', 'Write on a resource instance is not supported') };
    const def = inst.resources.find((r) => r.id === path.resourceId);
    if (def === undefined) return { reply: err('4.04', `no resource ${formatPath(path)}`) };
    if (!writable(def)) return { reply: err('4.05', `${formatPath(path)} is not writable`) };
    const d = decodeWrite(inst, def.id, def.kind, cf, req.payload);
    if (!d.ok) return { reply: err(d.code, d.reason) };
    return applyAll([() => inst.write(def.id, d.value as ResourceValue)]);
  }

  #execute(req: CoapRequest, path: Lwm2mPath): { reply: CoapReply; after?: () => void } {
    const found = this.#find(path);
    if ('code' in found) return { reply: found };
    const inst = found.inst;
    const def = inst?.resources.find((r) => r.id === path.resourceId);
    if (inst === undefined || def === undefined || path.resourceInstanceId !== undefined) return { reply: err('4.04', `no resource ${formatPath(path)}`) };
    if (def.ops !== 'E') return { reply: err('4.05', `${formatPath(path)} is not executable`) };
    const args = req.payload.toString('utf8');
    // Core §5.4.3: arg = DIGIT [ "=" "'" *CHAR "'" ], separated by ","; an empty payload is no arguments.
    if (args !== '' && !/^[0-9](='[^']*')?(,[0-9](='[^']*')?)*$/.test(args)) return { reply: err('4.00', 'Execute arguments must be like 0,1=\'value\'') };
    const done = applyAll([() => inst.execute(def.id, args)]);
    if (done.reply.code === '2.04') this.executions.push({ path: formatPath(path), args });
    return done;
  }

  /** Create (Core §6.3.6): the instance id from the payload, or the lowest free one; 2.01 with its Location-Path. */
  #create(req: CoapRequest, objectId: number): { reply: CoapReply; after?: () => void } {
    const make = this.#creatable[objectId];
    if (make === undefined) return { reply: err(this.#instances.some((i) => i.objectId === objectId) ? '4.05' : '4.04', `no Create on object ${objectId}`) };
    const cf = req.options.contentFormat;
    let instanceId: number | undefined;
    try {
      instanceId = createdInstanceId(cf, req.payload, objectId);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      return { reply: err('4.00', e.reason) };
    }
    const taken = new Set(this.#instances.filter((i) => i.objectId === objectId).map((i) => i.instanceId));
    if (instanceId === undefined) for (instanceId = 0; taken.has(instanceId); instanceId++);
    if (taken.has(instanceId)) return { reply: err('4.00', `/${objectId}/${instanceId} exists already`) };
    const inst = make(instanceId);
    const d = decodeInstanceWrite(inst, cf, req.payload);
    if (!d.ok) return { reply: err(d.code, d.reason) };
    for (const [id, v] of d.values) {
      const def = inst.resources.find((r) => r.id === id);
      if (def === undefined || !writable(def)) return { reply: err('4.05', `/${objectId}/${instanceId}/${id} is not writable`) };
      const r = inst.write(id, v);
      if (!r.ok) return { reply: err(r.code, r.reason) };
    }
    this.#instances = [...this.#instances, inst].sort((a, b) => a.objectId - b.objectId || a.instanceId - b.instanceId);
    return { reply: { code: '2.01', locationPath: [String(objectId), String(instanceId)] }, after: () => this.#objectsChanged?.() };
  }

  /** Delete (Core §6.3.7) of an instance of a creatable object. */
  #delete(path: Lwm2mPath): { reply: CoapReply; after?: () => void } {
    if (path.instanceId === undefined || path.resourceId !== undefined) return { reply: err('4.05', 'Delete takes an object instance, e.g. /19/1') };
    const found = this.#find(path);
    if ('code' in found) return { reply: found };
    if (this.#creatable[path.objectId] === undefined) return { reply: err('4.05', `instances of object ${path.objectId} cannot be deleted`) };
    this.#instances = this.#instances.filter((i) => i !== found.inst);
    this.observers.notify((key) => key === formatPath(path) || key.startsWith(`${formatPath(path)}/`), () => err('4.04', `${formatPath(path)} was deleted`));
    return { reply: { code: '2.02' }, after: () => this.#objectsChanged?.() };
  }

  #find(path: Lwm2mPath): { instances: ObjectInstance[]; inst: ObjectInstance | undefined } | CoapReply {
    const instances = this.#instances.filter((i) => i.objectId === path.objectId);
    if (instances.length === 0 && this.#creatable[path.objectId] === undefined) return err('4.04', `no object ${path.objectId}`);
    if (path.instanceId === undefined) return { instances, inst: undefined };
    const inst = instances.find((i) => i.instanceId === path.instanceId);
    if (inst === undefined) return err('4.04', `no instance /${path.objectId}/${path.instanceId}`);
    return { instances, inst };
  }
}

/** The instance a Create payload names: a TLV Object Instance or SenML names; undefined when it names none. */
function createdInstanceId(cf: number | undefined, payload: Buffer, objectId: number): number | undefined {
  if (cf === ContentFormat.TLV) {
    const entries = decodeTlv(payload);
    return entries.length === 1 && entries[0]?.type === TlvType.OBJECT_INSTANCE ? entries[0].id : undefined;
  }
  if (cf === ContentFormat.SENML_CBOR || cf === ContentFormat.SENML_JSON) {
    const ids = new Set(decodeContent(cf, payload, { objectId }).map((n) => n.path.instanceId));
    if (ids.size !== 1) throw new DecodeError('content.path', 'a Create carries one object instance');
    return [...ids][0];
  }
  return undefined;
}

function encoded(e: Encoded): CoapReply {
  return e.ok ? { code: '2.05', contentFormat: e.contentFormat, payload: e.payload } : err(e.code, e.reason);
}

/** Runs the writes/executes in order, stopping at the first failure; the afters run after the reply. */
function applyAll(steps: (() => DmResult)[]): { reply: CoapReply; after?: () => void } {
  const afters: (() => void)[] = [];
  for (const step of steps) {
    const r = step();
    if (!r.ok) return { reply: err(r.code, r.reason) };
    if (r.after !== undefined) afters.push(r.after);
  }
  return { reply: { code: '2.04' }, after: () => afters.forEach((a) => a()) };
}
