/**
 * Object 5, Firmware Update, instance 0, object version 1.1 (LwM2M 1.1 Core, Appendix E.6), every
 * resource: 0 Package, 1 Package URI, 2 Update, 3 State, 5 Update Result, 6 PkgName, 7 PkgVersion,
 * 8 Firmware Update Protocol Support, 9 Firmware Update Delivery Method, 10 Cancel, 11 Severity,
 * 12 Last State Change Time, 13 Maximum Defer Period.
 *
 *   Idle(0) --Package URI written, or first pushed block--> Downloading(1) --image ok--> Downloaded(2)
 *   Downloaded(2) --Update--> Updating(3) --reboot--> Idle(0), Update Result 1 (or 8 if reverted)
 *   Downloading(1) --failure--> Idle(0), Update Result 2…9;   Cancel --> Idle(0), Update Result 10
 *   Package URI '' or an empty Package --> Idle(0), Update Result 0
 *
 * Downloads, pushes and reboots are the firmware agent's business (hooks); this object keeps the
 * state and says which resources changed, so observers get notified. Push blocks (Block1 writes
 * on /5/0/0) go to the agent directly; they never reach `write`.
 */
import { DeliveryMethod as DeliveryMethodValue, FirmwareState, FirmwareUpdate, FirmwareUpdateProtocol, UpdateResult } from '../../protocols/objects.ts';
import type { Clock } from '../clock.ts';
import { fail, int, ok, str } from './model.ts';
import type { DmResult, ObjectInstance, ResourceDef, ResourceValue } from './model.ts';

export interface PackageLocation {
  /** coaps://: fetched inside a DTLS session of its own. */
  secure: boolean;
  host: string;
  port: number;
  pathSegments: string[];
  query: string[];
}

export interface FirmwareHooks {
  /** Start pulling the package; report with `downloaded` or `failed`. */
  download(location: PackageLocation): void;
  /** Stop a pull or a push under way (reset or Cancel). */
  cancelDownload(): void;
  /** Execute Update was accepted: apply the downloaded image. */
  update(): void;
  /** These resources of /5/0 changed value. */
  changed(resourceIds: number[]): void;
}

/** Resource 9: what the device accepts. */
export type DeliveryMethod = 'pull' | 'push' | 'both';
const DELIVERY_VALUE: Record<DeliveryMethod, number> = {
  pull: DeliveryMethodValue.PULL_ONLY, push: DeliveryMethodValue.PUSH_ONLY, both: DeliveryMethodValue.BOTH,
};

/** Resource 8 value 0, CoAP (RFC 7252): what every simulated device pulls over; one with a PSK adds 1, CoAPS. */
export const COAP_PROTOCOL = FirmwareUpdateProtocol.COAP;
export const COAPS_PROTOCOL = FirmwareUpdateProtocol.COAPS;

export interface FirmwareObjectOptions {
  deliveryMethod?: DeliveryMethod;
  protocols?: readonly number[];
  /** Resource 11: 0 critical, 1 major (default), 2 minor. */
  severity?: number;
  /** Resource 13, seconds; 0 (default) = the device never defers. */
  maxDeferPeriod?: number;
  clock: Clock;
}

const STATE_NAMES = ['Idle', 'Downloading', 'Downloaded', 'Updating'];

export class FirmwareUpdateObject implements ObjectInstance {
  readonly objectId = FirmwareUpdate.OBJECT_ID;
  readonly instanceId = 0;
  readonly objectVersion = '1.1';
  readonly resources: readonly ResourceDef[] = [
    { id: FirmwareUpdate.PACKAGE, kind: 'opaque', ops: 'W' },
    { id: FirmwareUpdate.PACKAGE_URI, kind: 'string', ops: 'RW' },
    { id: FirmwareUpdate.UPDATE, kind: 'string', ops: 'E' },
    { id: FirmwareUpdate.STATE, kind: 'integer', ops: 'R' },
    { id: FirmwareUpdate.UPDATE_RESULT, kind: 'integer', ops: 'R' },
    { id: FirmwareUpdate.PKG_NAME, kind: 'string', ops: 'R' },
    { id: FirmwareUpdate.PKG_VERSION, kind: 'string', ops: 'R' },
    { id: FirmwareUpdate.PROTOCOL_SUPPORT, kind: 'integers', ops: 'R' },
    { id: FirmwareUpdate.DELIVERY_METHOD, kind: 'integer', ops: 'R' },
    { id: FirmwareUpdate.CANCEL, kind: 'string', ops: 'E' },
    { id: FirmwareUpdate.SEVERITY, kind: 'integer', ops: 'RW' },
    { id: FirmwareUpdate.LAST_STATE_CHANGE_TIME, kind: 'integer', ops: 'R' },
    { id: FirmwareUpdate.MAXIMUM_DEFER_PERIOD, kind: 'integer', ops: 'RW' },
  ];
  state: number = FirmwareState.IDLE;
  updateResult: number = UpdateResult.INITIAL;
  packageUri = '';
  pkgName = '';
  pkgVersion = '';
  severity: number;
  maxDeferPeriod: number;
  /** Unix time (s) of the last State change. */
  lastStateChange: number;
  readonly deliveryMethod: DeliveryMethod;
  readonly protocols: readonly number[];
  readonly #clock: Clock;
  #hooks: FirmwareHooks | undefined;

  constructor(o: FirmwareObjectOptions) {
    this.deliveryMethod = o.deliveryMethod ?? 'pull';
    this.protocols = o.protocols ?? [COAP_PROTOCOL];
    this.severity = o.severity ?? 1;
    this.maxDeferPeriod = o.maxDeferPeriod ?? 0;
    this.#clock = o.clock;
    this.lastStateChange = Math.floor(o.clock.now() / 1000);
  }

  setHooks(hooks: FirmwareHooks): void {
    this.#hooks = hooks;
  }

  get acceptsPull(): boolean {
    return this.deliveryMethod !== 'push';
  }

  get acceptsPush(): boolean {
    return this.deliveryMethod !== 'pull';
  }

  read(id: number): ResourceValue | undefined {
    switch (id) {
      case FirmwareUpdate.PACKAGE_URI:
        return str(this.packageUri);
      case FirmwareUpdate.STATE:
        return int(this.state);
      case FirmwareUpdate.UPDATE_RESULT:
        return int(this.updateResult);
      case FirmwareUpdate.PKG_NAME:
        return str(this.pkgName);
      case FirmwareUpdate.PKG_VERSION:
        return str(this.pkgVersion);
      case FirmwareUpdate.PROTOCOL_SUPPORT:
        return { kind: 'integers', value: this.protocols };
      case FirmwareUpdate.DELIVERY_METHOD:
        return int(DELIVERY_VALUE[this.deliveryMethod]);
      case FirmwareUpdate.SEVERITY:
        return int(this.severity);
      case FirmwareUpdate.LAST_STATE_CHANGE_TIME:
        return int(this.lastStateChange);
      case FirmwareUpdate.MAXIMUM_DEFER_PERIOD:
        return int(this.maxDeferPeriod);
      default:
        return undefined;
    }
  }

  write(id: number, v: ResourceValue): DmResult {
    switch (id) {
      case FirmwareUpdate.PACKAGE:
        return fail('4.05', 'write the package to /5/0/0 itself (opaque, Block1)');
      case FirmwareUpdate.SEVERITY:
        if (v.kind !== 'integer' || v.value < 0 || v.value > 2) return fail('4.00', 'Severity is 0 (critical), 1 (major) or 2 (minor)');
        this.severity = v.value;
        return ok(() => this.#hooks?.changed([id]));
      case FirmwareUpdate.MAXIMUM_DEFER_PERIOD:
        if (v.kind !== 'integer' || v.value < 0) return fail('4.00', 'Maximum Defer Period is a number of seconds ≥ 0');
        this.maxDeferPeriod = v.value;
        return ok(() => this.#hooks?.changed([id]));
      case FirmwareUpdate.PACKAGE_URI:
        if (v.kind !== 'string') return fail('4.00', 'Package URI is a string');
        return this.#writeUri(v.value.trim());
      default:
        return fail('4.05', `/5/0/${id} is not writable`);
    }
  }

  execute(id: number): DmResult {
    if (id === FirmwareUpdate.CANCEL) {
      // Object 5 res. 10: cancels a download or a downloaded image; Update Result 10.
      if (this.state !== FirmwareState.DOWNLOADING && this.state !== FirmwareState.DOWNLOADED) {
        return fail('4.05', `Cancel needs State Downloading or Downloaded, State is ${STATE_NAMES[this.state] ?? this.state}`);
      }
      const wasDownloading = this.state === FirmwareState.DOWNLOADING;
      return ok(() => {
        if (wasDownloading) this.#hooks?.cancelDownload();
        this.set({ state: FirmwareState.IDLE, updateResult: UpdateResult.CANCELLED });
      });
    }
    if (id !== FirmwareUpdate.UPDATE) return fail('4.05', `/5/0/${id} is not executable`);
    // "only executable when the value of the State Resource is Downloaded" (Object 5, res. 2).
    if (this.state !== FirmwareState.DOWNLOADED) {
      return fail('4.05', `Update needs State Downloaded (2), State is ${STATE_NAMES[this.state] ?? this.state} (${this.state})`);
    }
    return ok(() => {
      this.set({ state: FirmwareState.UPDATING });
      this.#hooks?.update();
    });
  }

  /** A push starts (first block): Idle → Downloading. False when the state does not allow it. */
  pushStarted(): boolean {
    if (this.state !== FirmwareState.IDLE && this.state !== FirmwareState.DOWNLOADING) return false;
    this.set({ state: FirmwareState.DOWNLOADING, updateResult: UpdateResult.INITIAL, packageUri: '', pkgName: '', pkgVersion: '' });
    return true;
  }

  /** The download finished and the image checked out. */
  downloaded(pkgName: string, version: string): void {
    if (this.state !== FirmwareState.DOWNLOADING) return;
    this.set({ state: FirmwareState.DOWNLOADED, pkgName, pkgVersion: version });
  }

  /** The download or the update failed with an Update Result code; State goes to `state` (Idle). */
  failed(result: number, state: number = FirmwareState.IDLE): void {
    this.set({ state, updateResult: result });
  }

  /**
   * Sets resources and notifies observers of the ones that changed (RFC 7641 §4.2: only real
   * changes). A State change also stamps Last State Change Time.
   */
  set(values: Partial<Pick<FirmwareUpdateObject, 'state' | 'updateResult' | 'packageUri' | 'pkgName' | 'pkgVersion'>>): void {
    const before = this.#snapshot();
    if (values.state !== undefined && values.state !== this.state) this.lastStateChange = Math.floor(this.#clock.now() / 1000);
    Object.assign(this, values);
    const after = this.#snapshot();
    const changed = [...after].filter(([id, v]) => before.get(id) !== v).map(([id]) => id);
    if (changed.length > 0) this.#hooks?.changed(changed);
  }

  #writeUri(uri: string): DmResult {
    if (uri === '') return this.#reset();
    if (!this.acceptsPull) return fail('4.05', 'this device takes push only (Delivery Method 1)');
    if (this.state !== FirmwareState.IDLE) {
      return fail('4.00', `cannot take a Package URI in state ${STATE_NAMES[this.state] ?? this.state}; write "" to reset`);
    }
    const location = parsePackageUri(uri);
    if (typeof location === 'number') {
      // The write itself succeeds; the outcome is reported in Update Result (7 or 9).
      return ok(() => this.set({ packageUri: uri, pkgName: '', pkgVersion: '', updateResult: location }));
    }
    return ok(() => {
      this.set({ packageUri: uri, pkgName: '', pkgVersion: '', state: FirmwareState.DOWNLOADING, updateResult: UpdateResult.INITIAL });
      this.#hooks?.download(location);
    });
  }

  /** Object 5 res. 1: an empty Package URI resets the state machine (Idle, Update Result 0). */
  reset(): DmResult {
    return this.#reset();
  }

  #reset(): DmResult {
    if (this.state === FirmwareState.UPDATING) return fail('4.00', 'cannot reset while Updating');
    const wasDownloading = this.state === FirmwareState.DOWNLOADING;
    return ok(() => {
      if (wasDownloading) this.#hooks?.cancelDownload();
      this.set({ state: FirmwareState.IDLE, updateResult: UpdateResult.INITIAL, packageUri: '', pkgName: '', pkgVersion: '' });
    });
  }

  #snapshot(): Map<number, string | number> {
    return new Map<number, string | number>([
      [FirmwareUpdate.PACKAGE_URI, this.packageUri],
      [FirmwareUpdate.STATE, this.state],
      [FirmwareUpdate.UPDATE_RESULT, this.updateResult],
      [FirmwareUpdate.PKG_NAME, this.pkgName],
      [FirmwareUpdate.PKG_VERSION, this.pkgVersion],
      [FirmwareUpdate.LAST_STATE_CHANGE_TIME, this.lastStateChange],
    ]);
  }
}

/** coap[s]://host[:port]/path?query → where to GET it; otherwise the Update Result code (7 or 9). */
export function parsePackageUri(uri: string): PackageLocation | number {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return UpdateResult.INVALID_URI;
  }
  if (url.protocol !== 'coap:' && url.protocol !== 'coaps:') return UpdateResult.UNSUPPORTED_PROTOCOL;
  const secure = url.protocol === 'coaps:';
  if (url.hostname === '' || url.username !== '' || url.hash !== '') return UpdateResult.INVALID_URI;
  const port = url.port === '' ? (secure ? 5684 : 5683) : Number(url.port);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  try {
    const pathSegments = url.pathname.split('/').slice(1).filter((s, i, all) => s !== '' || i < all.length - 1).map(decodeURIComponent);
    const query = url.search === '' ? [] : url.search.slice(1).split('&').map(decodeURIComponent);
    return { secure, host, port, pathSegments, query };
  } catch {
    return UpdateResult.INVALID_URI;
  }
}
