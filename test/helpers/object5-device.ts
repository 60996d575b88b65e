/**
 * A device in memory behind the update engine's device port: one LwM2M Firmware Update (Object 5)
 * instance and /3/0/3 Firmware Version, answering Read, Write, Execute and Observe as Object 5
 * (LwM2M 1.1) says. State (/5/0/3) and Update Result (/5/0/5) move as a package arrives (a Package
 * URI pulled, or /5/0/0 pushed), installs, is cancelled or reset, and each change is notified to
 * the observer of its resource. Every request is recorded in order, with how it failed; any one
 * can be told to fail with a given kind, or to get no answer (a timeout). The device side, for
 * tests: Ferry does not ship it.
 *
 *   requests: ['OBSERVE /5/0/3', 'READ /5/0/9', 'WRITE /5/0/1 "coap://…/fw/<name>"', 'READ /5/0/13 → 4.04', …]
 */
import { ContentFormat } from '../../protocols/content-format.ts';
import { FirmwareState, UpdateResult } from '../../protocols/objects.ts';
import { encodeTlv, encodeTlvInteger, TlvType } from '../../protocols/tlv.ts';
import { DeviceError, type DeviceAddress, type DeviceContent, type DeviceErrorKind, type DevicePort } from '../../server/fota/device-port.ts';

export interface Object5Setup {
  /** /5/0/9 Delivery Method (0 pull only, 1 push only, 2 both); null: no such resource (4.04). Default 0. */
  deliveryMethod?: number | null;
  /** /5/0/8 Protocol Support; null: no such resource. Default [0], CoAP. */
  protocolSupport?: number[] | null;
  /** /5/0/13 Maximum Defer Period, seconds (Object 5 1.1); null: no such resource (the default). */
  maxDeferPeriod?: number | null;
  /** /5/0/3 State and /5/0/5 Update Result to start from (default Idle, 0). */
  state?: number;
  result?: number;
  /** /3/0/3 before the update (default '1.0.0'). */
  firmwareVersion?: string;
  /** /3/0/3 once the package is installed (default '2.0.0'); null: the device stays Updating. */
  installs?: string | null;
  /** Given a Package URI, download it at once (Downloading, then Downloaded); false: stay Idle until startDownload(). Default true. */
  downloads?: boolean;
  /** Refuse a pushed package (4.00), showing this Update Result (e.g. 5, integrity check failure). */
  refusesPackage?: number;
}

/** The block size a push goes in (SZX 6). */
const BLOCK = 1024;

const FAILURE_MESSAGES: Record<Exclude<DeviceErrorKind, 'refused'>, string> = {
  timeout: 'no response in 5000 ms', transport: 'send failed', cancelled: 'the device left before this request was sent',
};

export class Object5Device implements DevicePort {
  /** Every request, in order: `READ /5/0/9`, `WRITE /5/0/1 "…"`, `WRITE /5/0/0 [3000 bytes]`, `EXECUTE /5/0/2`, `OBSERVE /5/0/3`; a failed one ends in `→ 4.04`, `→ timeout`, … */
  readonly requests: string[] = [];
  /** Requests held for it (a queue-mode device asleep), as heldFor says. */
  held = 0;
  state: number;
  result: number;
  firmwareVersion: string;
  packageUri = '';
  package: Buffer | null = null;
  /** /5/0/11, default 1 (mandatory). */
  severity = 1;
  private readonly setup: Object5Setup;
  private readonly observers = new Map<string, (v: DeviceContent) => void>();
  private readonly failures = new Map<string, { kind: DeviceErrorKind; code: string }>();

  constructor(setup: Object5Setup = {}) {
    this.setup = setup;
    this.state = setup.state ?? FirmwareState.IDLE;
    this.result = setup.result ?? UpdateResult.INITIAL;
    this.firmwareVersion = setup.firmwareVersion ?? '1.0.0';
  }

  /** From now on, `request` (e.g. 'EXECUTE /5/0/2') fails with `kind` ('refused': with `code`). */
  fail(request: string, kind: DeviceErrorKind, code = '4.00'): void {
    this.failures.set(request, { kind, code });
  }

  /** From now on, `request` gets no answer: the port reports a timeout. */
  silent(request: string): void {
    this.fail(request, 'timeout');
  }

  /** `request` is answered again. */
  heal(request: string): void {
    this.failures.delete(request);
  }

  /** The download of the Package URI starts (Downloading). */
  startDownload(): void {
    this.setState(FirmwareState.DOWNLOADING);
  }

  /** The package is in (Downloaded). */
  finishDownload(): void {
    this.setState(FirmwareState.DOWNLOADED);
  }

  read(_to: DeviceAddress, path: string, _accept: number): Promise<DeviceContent> {
    return this.answer(`READ ${path}`, '', () => this.value(path));
  }

  write(_to: DeviceAddress, path: string, payload: Buffer, _contentFormat: number): Promise<void> {
    return this.answer(`WRITE ${path}`, ` ${JSON.stringify(payload.toString('utf8'))}`, () => {
      if (path === '/5/0/11') {
        this.severity = Number(payload.toString('utf8'));
      } else if (path === '/5/0/1') {
        this.writePackageUri(payload.toString('utf8'));
      } else {
        throw refused('4.05');
      }
    });
  }

  writeBlockwise(
    _to: DeviceAddress, path: string, payload: Buffer, _contentFormat: number, onBlock?: () => void,
  ): Promise<{ blocks: number; szx: number }> {
    return this.answer(`WRITE ${path}`, ` [${payload.length} bytes]`, () => {
      if (path !== '/5/0/0') throw refused('4.05');
      if (this.setup.refusesPackage !== undefined) {
        this.setResult(this.setup.refusesPackage);
        throw refused('4.00');
      }
      if (this.state !== FirmwareState.IDLE) throw refused('4.00');
      const blocks = Math.max(1, Math.ceil(payload.length / BLOCK));
      this.setResult(UpdateResult.INITIAL);
      this.setState(FirmwareState.DOWNLOADING);
      for (let i = 0; i < blocks; i++) onBlock?.();
      this.package = payload;
      this.setState(FirmwareState.DOWNLOADED);
      return { blocks, szx: 6 };
    });
  }

  execute(_to: DeviceAddress, path: string): Promise<void> {
    return this.answer(`EXECUTE ${path}`, '', () => {
      if (path === '/5/0/2') this.update();
      else if (path === '/5/0/10') this.cancel();
      else throw refused('4.04');
    });
  }

  observe(_to: DeviceAddress, path: string, _accept: number, onValue: (v: DeviceContent) => void): Promise<DeviceContent> {
    return this.answer(`OBSERVE ${path}`, '', () => {
      const first = this.value(path);
      this.observers.set(path, onValue);
      onValue(first);
      return first;
    });
  }

  cancelObserve(_endpoint: string, path: string): boolean {
    this.requests.push(`CANCEL OBSERVE ${path}`);
    return this.observers.delete(path);
  }

  heldFor(_endpoint: string): number {
    return this.held;
  }

  /** Package URI (res. 1): empty resets the state machine to Idle; a URI is taken only when Idle. */
  private writePackageUri(uri: string): void {
    if (uri === '') {
      this.package = null;
      this.packageUri = '';
      this.setState(FirmwareState.IDLE);
      this.setResult(UpdateResult.INITIAL);
      return;
    }
    if (this.state !== FirmwareState.IDLE) throw refused('4.00');
    this.packageUri = uri;
    this.setResult(UpdateResult.INITIAL);
    if (this.setup.downloads ?? true) {
      this.startDownload();
      this.finishDownload();
    }
  }

  /** Update (res. 2): only when Downloaded; Updating, then the new firmware runs (Update Result 1, Idle). */
  private update(): void {
    if (this.state !== FirmwareState.DOWNLOADED) throw refused('4.05');
    this.setState(FirmwareState.UPDATING);
    const installs = this.setup.installs === undefined ? '2.0.0' : this.setup.installs;
    if (installs === null) return;
    this.firmwareVersion = installs;
    this.package = null;
    this.setResult(UpdateResult.SUCCESS);
    this.setState(FirmwareState.IDLE);
  }

  /** Cancel (res. 10, Object 5 1.1): only while Downloading or Downloaded; Idle, Update Result 10. */
  private cancel(): void {
    if (this.state !== FirmwareState.DOWNLOADING && this.state !== FirmwareState.DOWNLOADED) throw refused('4.05');
    this.package = null;
    this.setState(FirmwareState.IDLE);
    this.setResult(UpdateResult.CANCELLED);
  }

  private value(path: string): DeviceContent {
    switch (path) {
      case '/5/0/3': return text(this.state);
      case '/5/0/5': return text(this.result);
      case '/5/0/9': return text(present(this.setup.deliveryMethod === undefined ? 0 : this.setup.deliveryMethod));
      case '/5/0/8': return tlvIntegers(8, present(this.setup.protocolSupport === undefined ? [0] : this.setup.protocolSupport));
      case '/5/0/11': return text(this.severity);
      case '/5/0/13': return text(present(this.setup.maxDeferPeriod ?? null));
      case '/3/0/3': return text(this.firmwareVersion);
      default: throw refused('4.04');
    }
  }

  private setState(state: number): void {
    if (state === this.state) return;
    this.state = state;
    this.observers.get('/5/0/3')?.(text(state));
  }

  private setResult(result: number): void {
    if (result === this.result) return;
    this.result = result;
    this.observers.get('/5/0/5')?.(text(result));
  }

  /** Records the request and runs it, or fails it as told. */
  private async answer<T>(request: string, detail: string, act: () => T): Promise<T> {
    const told = this.failures.get(request);
    try {
      if (told) throw told.kind === 'refused' ? refused(told.code) : new DeviceError(told.kind, FAILURE_MESSAGES[told.kind]);
      const out = act();
      this.requests.push(`${request}${detail}`);
      return out;
    } catch (err) {
      const e = err as DeviceError;
      this.requests.push(`${request}${detail} → ${e.kind === 'refused' ? e.code : e.kind}`);
      throw err;
    }
  }
}

function refused(code: string): DeviceError {
  return new DeviceError('refused', `device answered ${code}`, code);
}

/** A resource the device has, or a 4.04 for one it lacks (null). */
function present<T>(value: T | null): T {
  if (value === null) throw refused('4.04');
  return value;
}

function text(value: string | number): DeviceContent {
  return { contentFormat: ContentFormat.TEXT, payload: Buffer.from(String(value)) };
}

/** A multiple-instance integer resource of Object 5 instance 0, in TLV. */
function tlvIntegers(resourceId: number, values: readonly number[]): DeviceContent {
  const children = values.map((v, i) => ({ type: TlvType.RESOURCE_INSTANCE, id: i, value: encodeTlvInteger(v) }));
  return { contentFormat: ContentFormat.TLV, payload: encodeTlv([{ type: TlvType.MULTIPLE_RESOURCE, id: resourceId, children }]) };
}
