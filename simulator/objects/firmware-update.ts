/**
 * Object 5, Firmware Update, instance 0 (LwM2M 1.1 Core, Appendix E.6), pull delivery only.
 *
 *   Idle(0) --write Package URI--> Downloading(1) --image ok--> Downloaded(2)
 *   Downloaded(2) --execute Update--> Updating(3) --reboot--> Idle(0), Update Result 1
 *   Downloading(1) --failure--> Idle(0), Update Result 4/5/6/…;  write '' --> Idle(0), Result 0
 *
 * The download and the reboot are the device's business (hooks); this object keeps the
 * state and says which resources changed, so observers get notified.
 */
import { FirmwareState, FirmwareUpdate, UpdateResult } from '../../protocols/objects.ts';
import { fail, int, ok, str } from './model.ts';
import type { DmResult, ObjectInstance, ResourceDef, ResourceValue } from './model.ts';

export interface PackageLocation {
  host: string;
  port: number;
  pathSegments: string[];
  query: string[];
}

export interface FirmwareHooks {
  /** Start pulling the package; report with `downloaded` or `failed`. */
  download(location: PackageLocation): void;
  cancelDownload(): void;
  /** Execute Update was accepted: apply the downloaded image (reboot). */
  update(): void;
  /** These resources of /5/0 changed value. */
  changed(resourceIds: number[]): void;
}

const COAP_PROTOCOL = 0; // Firmware Update Protocol Support: 0 = CoAP (RFC 7252)
const PULL_ONLY = 0; // Firmware Update Delivery Method: 0 = pull only

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
  ];
  state: number = FirmwareState.IDLE;
  updateResult: number = UpdateResult.INITIAL;
  packageUri = '';
  pkgName = '';
  pkgVersion = '';
  readonly #hooks: FirmwareHooks;

  constructor(hooks: FirmwareHooks) {
    this.#hooks = hooks;
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
        return { kind: 'integers', value: [COAP_PROTOCOL] };
      case FirmwareUpdate.DELIVERY_METHOD:
        return int(PULL_ONLY);
      default:
        return undefined;
    }
  }

  write(id: number, v: ResourceValue): DmResult {
    if (id === FirmwareUpdate.PACKAGE) return fail('4.05', 'push delivery is not supported (Delivery Method 0: pull only)');
    if (id !== FirmwareUpdate.PACKAGE_URI || v.kind !== 'string') return fail('4.00', `bad value for /5/0/${id}`);
    const uri = v.value.trim();
    if (uri === '') return this.#reset();
    if (this.state !== FirmwareState.IDLE) {
      return fail('4.00', `cannot take a Package URI in state ${STATE_NAMES[this.state] ?? this.state}; write "" to reset`);
    }
    const before = this.#snapshot();
    this.packageUri = uri;
    this.pkgName = '';
    this.pkgVersion = '';
    const location = parsePackageUri(uri);
    if (typeof location === 'number') {
      // The write itself succeeds; the outcome is reported in Update Result (7 or 9).
      this.updateResult = location;
      return ok(() => this.#notify(before));
    }
    this.state = FirmwareState.DOWNLOADING;
    this.updateResult = UpdateResult.INITIAL;
    return ok(() => {
      this.#notify(before);
      this.#hooks.download(location);
    });
  }

  execute(id: number): DmResult {
    if (id !== FirmwareUpdate.UPDATE) return fail('4.05', `/5/0/${id} is not executable`);
    // "only executable when the value of the State Resource is Downloaded" (Object 5, res. 2).
    if (this.state !== FirmwareState.DOWNLOADED) {
      return fail('4.05', `Update needs State Downloaded (2), State is ${STATE_NAMES[this.state] ?? this.state} (${this.state})`);
    }
    const before = this.#snapshot();
    this.state = FirmwareState.UPDATING;
    return ok(() => {
      this.#notify(before);
      this.#hooks.update();
    });
  }

  /** The download finished and the image checked out. */
  downloaded(version: string): void {
    if (this.state !== FirmwareState.DOWNLOADING) return;
    const before = this.#snapshot();
    this.state = FirmwareState.DOWNLOADED;
    this.pkgName = 'ferry-sim';
    this.pkgVersion = version;
    this.#notify(before);
  }

  /** The download (or the update) failed with an Update Result code. */
  failed(result: number): void {
    if (this.state !== FirmwareState.DOWNLOADING && this.state !== FirmwareState.UPDATING) return;
    const before = this.#snapshot();
    this.state = FirmwareState.IDLE;
    this.updateResult = result;
    this.#notify(before);
  }

  /** After the reboot into the new image: Idle, Update Result 1. No notification (observers are gone). */
  rebooted(updated: boolean): void {
    if (updated) {
      this.state = FirmwareState.IDLE;
      this.updateResult = UpdateResult.SUCCESS;
      this.packageUri = '';
    } else if (this.state === FirmwareState.DOWNLOADING) {
      // The transfer died with the power; the server sees Connection Lost and may start over.
      this.state = FirmwareState.IDLE;
      this.updateResult = UpdateResult.CONNECTION_LOST;
    } else if (this.state === FirmwareState.UPDATING) {
      this.state = FirmwareState.DOWNLOADED;
    }
  }

  #reset(): DmResult {
    if (this.state === FirmwareState.UPDATING) return fail('4.00', 'cannot reset while Updating');
    const before = this.#snapshot();
    const wasDownloading = this.state === FirmwareState.DOWNLOADING;
    this.state = FirmwareState.IDLE;
    this.updateResult = UpdateResult.INITIAL;
    this.packageUri = '';
    this.pkgName = '';
    this.pkgVersion = '';
    return ok(() => {
      if (wasDownloading) this.#hooks.cancelDownload();
      this.#notify(before);
    });
  }

  /** The observable values, to tell observers only about real changes (RFC 7641 §4.2). */
  #snapshot(): Map<number, string | number> {
    return new Map<number, string | number>([
      [FirmwareUpdate.PACKAGE_URI, this.packageUri],
      [FirmwareUpdate.STATE, this.state],
      [FirmwareUpdate.UPDATE_RESULT, this.updateResult],
      [FirmwareUpdate.PKG_NAME, this.pkgName],
      [FirmwareUpdate.PKG_VERSION, this.pkgVersion],
    ]);
  }

  #notify(before: Map<number, string | number>): void {
    const after = this.#snapshot();
    const changed = [...after].filter(([id, v]) => before.get(id) !== v).map(([id]) => id);
    if (changed.length > 0) this.#hooks.changed(changed);
  }
}

/** coap://host[:port]/path?query → where to GET it; otherwise the Update Result code (7 or 9). */
export function parsePackageUri(uri: string): PackageLocation | number {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return UpdateResult.INVALID_URI;
  }
  if (url.protocol !== 'coap:') return UpdateResult.UNSUPPORTED_PROTOCOL;
  if (url.hostname === '' || url.username !== '' || url.hash !== '') return UpdateResult.INVALID_URI;
  const port = url.port === '' ? 5683 : Number(url.port);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  try {
    const pathSegments = url.pathname.split('/').slice(1).filter((s, i, all) => s !== '' || i < all.length - 1).map(decodeURIComponent);
    const query = url.search === '' ? [] : url.search.slice(1).split('&').map(decodeURIComponent);
    return { host, port, pathSegments, query };
  } catch {
    return UpdateResult.INVALID_URI;
  }
}
