/**
 * A simulated NOR flash: areas made of sectors that erase to 0xFF, written in units of the write
 * granularity, and only where erased (a second write to a unit is a bootloader bug, thrown as
 * FlashError). Erase and write take time on the injected clock. A power-cut hook may stop any
 * operation before it starts or tear it halfway (a torn erase leaves garbage, a torn write the
 * first units only); after a cut every operation throws PowerLoss until `powerOn()`.
 *
 * Two ways to keep the bytes: 'full' gives each sector its own Buffer (exact, for small fleets);
 * 'digest' seals finished sectors into a shared store keyed by SHA-256 (flash-store.ts), so
 * devices holding the same image share it. Areas marked `bytes` (the small trailers) always keep
 * their own bytes.
 */
import type { Hash } from 'node:crypto';
import { realClock } from './clock.ts';
import type { Clock, Random } from './clock.ts';
import { sharedContentStore } from './flash-store.ts';
import type { ContentStore, SectorContent } from './flash-store.ts';

export type FlashMode = 'full' | 'digest';

export type FlashOp =
  | { kind: 'erase'; area: string; sector: number }
  | { kind: 'write'; area: string; offset: number; length: number }
  | { kind: 'copy'; area: string; sector: number; from: string };

/** Decides, per operation, whether the power goes: before it starts, or halfway through. */
export type PowerCutHook = (op: FlashOp, n: number) => 'before' | 'torn' | undefined;

export class PowerLoss extends Error {
  readonly step: number;
  constructor(step: number) {
    super(`power lost at flash operation ${step}`);
    this.name = 'PowerLoss';
    this.step = step;
  }
}

export class FlashError extends Error {
  readonly code: 'not-erased' | 'unaligned' | 'out-of-range' | 'geometry';
  constructor(code: FlashError['code'], message: string) {
    super(message);
    this.name = 'FlashError';
    this.code = code;
  }
}

export interface FlashOptions {
  mode?: FlashMode;
  /** Write granularity in bytes (1, 2, 4, 8 or 16; default 4). */
  writeSize?: number;
  /** Time to erase one sector (default 0). */
  eraseMs?: number;
  /** Write speed; 0 or undefined writes instantly. */
  writeBytesPerMs?: number;
  clock?: Clock;
  /** Garbage for torn erases and how much of a torn write lands. */
  random?: Random;
  store?: ContentStore;
}

/** A sector: erased (undefined), its own bytes, or a sealed shared content (digest mode). */
type Sector = Buffer | SectorContent | undefined;

const isBytes = (s: Sector): s is Buffer => Buffer.isBuffer(s);

export class Flash {
  readonly mode: FlashMode;
  readonly writeSize: number;
  readonly store: ContentStore;
  readonly clock: Clock;
  readonly random: Random;
  readonly eraseMs: number;
  readonly writeBytesPerMs: number;
  readonly areas = new Map<string, FlashArea>();
  /** Mutating operations started so far (erase, write, copy). */
  ops = 0;
  powered = true;
  powerCut: PowerCutHook | undefined;
  /** Multiplies every operation's time; 0 makes flash instant (checks after a run). */
  timeScale = 1;

  constructor(opts: FlashOptions = {}) {
    this.mode = opts.mode ?? 'full';
    this.writeSize = opts.writeSize ?? 4;
    if (![1, 2, 4, 8, 16].includes(this.writeSize)) throw new FlashError('geometry', `write size must be 1, 2, 4, 8 or 16, got ${this.writeSize}`);
    this.store = opts.store ?? sharedContentStore;
    this.clock = opts.clock ?? realClock;
    this.random = opts.random ?? Math.random;
    this.eraseMs = opts.eraseMs ?? 0;
    this.writeBytesPerMs = opts.writeBytesPerMs ?? 0;
  }

  /** Adds an area of `sectors` sectors of `sectorSize` bytes; `bytes` keeps its own bytes even in digest mode. */
  addArea(name: string, sectorSize: number, sectors: number, opts: { bytes?: boolean } = {}): FlashArea {
    if (sectorSize % this.writeSize !== 0 || sectorSize <= 0 || sectors <= 0) {
      throw new FlashError('geometry', `${name}: ${sectors} sectors of ${sectorSize} bytes do not fit write size ${this.writeSize}`);
    }
    const area = new FlashArea(this, name, sectorSize, sectors, this.mode === 'digest' && opts.bytes !== true);
    this.areas.set(name, area);
    return area;
  }

  area(name: string): FlashArea {
    const a = this.areas.get(name);
    if (a === undefined) throw new FlashError('geometry', `no flash area ${name}`);
    return a;
  }

  /** The power is back (after a PowerLoss). */
  powerOn(): void {
    this.powered = true;
  }

  /** Bytes this flash holds on its own (not counting shared contents). */
  ownBytes(): number {
    let n = 0;
    for (const a of this.areas.values()) n += a.ownBytes();
    return n;
  }

  /** Lets go of every shared content (the device is gone). */
  dispose(): void {
    for (const a of this.areas.values()) a.dispose();
  }

  /** @internal Starts an operation: counts it, asks the power-cut hook. */
  begin(op: FlashOp): 'torn' | undefined {
    if (!this.powered) throw new PowerLoss(this.ops);
    const n = this.ops++;
    const cut = this.powerCut?.(op, n);
    if (cut === 'before') {
      this.powered = false;
      throw new PowerLoss(n);
    }
    return cut;
  }

  /** @internal After a torn operation did its half: the power is gone. */
  cut(): never {
    this.powered = false;
    throw new PowerLoss(this.ops - 1);
  }

  /** @internal Operations take time on the clock; zero-time ones do not wait. */
  async wait(ms: number): Promise<void> {
    ms *= this.timeScale;
    if (ms > 0) await new Promise<void>((resolve) => this.clock.setTimeout(resolve, ms));
  }

  writeTimeMs(bytes: number): number {
    return this.writeBytesPerMs > 0 ? bytes / this.writeBytesPerMs : 0;
  }
}

export class FlashArea {
  readonly flash: Flash;
  readonly name: string;
  readonly sectorSize: number;
  readonly sectorCount: number;
  readonly #shared: boolean;
  readonly #sectors: Sector[];
  #open: number | undefined;

  constructor(flash: Flash, name: string, sectorSize: number, sectorCount: number, shared: boolean) {
    this.flash = flash;
    this.name = name;
    this.sectorSize = sectorSize;
    this.sectorCount = sectorCount;
    this.#shared = shared;
    this.#sectors = new Array<Sector>(sectorCount).fill(undefined);
  }

  get size(): number {
    return this.sectorSize * this.sectorCount;
  }

  async erase(index: number): Promise<void> {
    this.#checkSector(index);
    const torn = this.flash.begin({ kind: 'erase', area: this.name, sector: index });
    await this.flash.wait(this.flash.eraseMs);
    this.#set(index, undefined);
    if (torn === 'torn') {
      // An interrupted erase leaves the cells in no defined state.
      const garbage = Buffer.alloc(this.sectorSize);
      for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(this.flash.random() * 256);
      this.#set(index, garbage);
      this.flash.cut();
    }
  }

  /** Programs erased flash: offset and length in whole write units. */
  async write(offset: number, bytes: Buffer): Promise<void> {
    const unit = this.flash.writeSize;
    if (offset % unit !== 0 || bytes.length % unit !== 0) throw new FlashError('unaligned', `${this.name}: write of ${bytes.length} bytes at ${offset} is not in ${unit}-byte units`);
    this.#checkRange(offset, bytes.length);
    if (!this.isErased(offset, bytes.length)) throw new FlashError('not-erased', `${this.name}: write at ${offset} over programmed flash`);
    const torn = this.flash.begin({ kind: 'write', area: this.name, offset, length: bytes.length });
    await this.flash.wait(this.flash.writeTimeMs(bytes.length));
    const landed = torn === 'torn' ? Math.floor(this.flash.random() * (bytes.length / unit)) * unit : bytes.length;
    this.#program(offset, bytes.subarray(0, landed));
    if (torn === 'torn') this.flash.cut();
  }

  /** Copies a whole sector of `from` into erased sector `index` of this area (same sector size). */
  async copySector(from: FlashArea, fromIndex: number, index: number): Promise<void> {
    this.#checkSector(index);
    from.#checkSector(fromIndex);
    if (from.sectorSize !== this.sectorSize) throw new FlashError('geometry', `copy between sectors of ${from.sectorSize} and ${this.sectorSize} bytes`);
    if (!this.sectorErased(index)) throw new FlashError('not-erased', `${this.name}: copy into programmed sector ${index}`);
    const torn = this.flash.begin({ kind: 'copy', area: this.name, sector: index, from: from.name });
    await this.flash.wait(this.flash.writeTimeMs(this.sectorSize));
    if (from.#shared && from.#open === fromIndex) from.flush();
    const src = from.#sectors[fromIndex];
    if (torn === 'torn') {
      const units = this.sectorSize / this.flash.writeSize;
      const landed = Math.floor(this.flash.random() * units) * this.flash.writeSize;
      this.#program(index * this.sectorSize, from.read(fromIndex * this.sectorSize, landed));
      this.flash.cut();
    }
    if (src === undefined) return;
    if (this.#shared && from.#shared && !isBytes(src)) this.#set(index, this.flash.store.retain(src));
    else this.#program(index * this.sectorSize, isBytes(src) ? src : src.bytes);
  }

  read(offset: number, length: number): Buffer {
    this.#checkRange(offset, length);
    const out = Buffer.alloc(length, 0xff);
    this.#each(offset, length, (bytes, at, from, to) => bytes?.copy(out, at, from, to));
    return out;
  }

  /** Feeds [offset, offset+length) into a hash without copying. */
  hash(offset: number, length: number, h: Hash): void {
    this.scan(offset, length, (chunk) => h.update(chunk));
  }

  /** Hands [offset, offset+length) to `fn` piece by piece, without copying: read, never keep or change. */
  scan(offset: number, length: number, fn: (chunk: Buffer) => void): void {
    this.#checkRange(offset, length);
    this.#each(offset, length, (bytes, _at, from, to) => fn(bytes === undefined ? erasedBytes(to - from) : bytes.subarray(from, to)));
  }

  isErased(offset: number, length: number): boolean {
    this.#checkRange(offset, length);
    let erased = true;
    this.#each(offset, length, (bytes, _at, from, to) => {
      for (let i = from; i < to && erased && bytes !== undefined; i++) if (bytes[i] !== 0xff) erased = false;
    });
    return erased;
  }

  sectorErased(index: number): boolean {
    return this.#sectors[index] === undefined || this.isErased(index * this.sectorSize, this.sectorSize);
  }

  /** Digest mode: seals the sector being written into the shared store. */
  flush(): void {
    if (this.#open === undefined) return;
    const index = this.#open;
    this.#open = undefined;
    const s = this.#sectors[index];
    if (!isBytes(s)) return;
    this.#sectors[index] = isAllErased(s) ? undefined : this.flash.store.intern(s);
  }

  ownBytes(): number {
    let n = 0;
    for (const s of this.#sectors) if (isBytes(s)) n += s.length;
    return n;
  }

  dispose(): void {
    for (let i = 0; i < this.#sectors.length; i++) this.#set(i, undefined);
  }

  /** Calls fn(bytes, position in the range, from, to) for each sector's piece of the range (undefined: erased). */
  #each(offset: number, length: number, fn: (bytes: Buffer | undefined, at: number, from: number, to: number) => void): void {
    const end = offset + length;
    for (let pos = offset; pos < end; ) {
      const index = Math.floor(pos / this.sectorSize);
      const base = index * this.sectorSize;
      const stop = Math.min(end, base + this.sectorSize);
      const s = this.#sectors[index];
      fn(s === undefined ? undefined : isBytes(s) ? s : s.bytes, pos - offset, pos - base, stop - base);
      pos = stop;
    }
  }

  #program(offset: number, bytes: Buffer): void {
    for (let done = 0; done < bytes.length; ) {
      const pos = offset + done;
      const index = Math.floor(pos / this.sectorSize);
      const base = index * this.sectorSize;
      const n = Math.min(bytes.length - done, base + this.sectorSize - pos);
      const own = this.#own(index);
      for (let i = 0; i < n; i++) own[pos - base + i]! &= bytes[done + i]!;
      done += n;
    }
  }

  /** The sector's own bytes, to write into (a shared content is copied out first). */
  #own(index: number): Buffer {
    if (this.#shared && this.#open !== index) {
      this.flush();
      this.#open = index;
    }
    const s = this.#sectors[index];
    if (isBytes(s)) return s;
    const own = s === undefined ? Buffer.alloc(this.sectorSize, 0xff) : Buffer.from(s.bytes);
    this.#set(index, own);
    return own;
  }

  #set(index: number, next: Sector): void {
    const prev = this.#sectors[index];
    if (prev !== undefined && !isBytes(prev)) this.flash.store.release(prev);
    this.#sectors[index] = next;
    if (next === undefined && this.#open === index) this.#open = undefined;
  }

  #checkSector(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.sectorCount) throw new FlashError('out-of-range', `${this.name}: no sector ${index}`);
  }

  #checkRange(offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new FlashError('out-of-range', `${this.name}: [${offset}, ${offset + length}) is outside 0…${this.size}`);
    }
  }
}

let erasedChunk = Buffer.alloc(0);
function erasedBytes(n: number): Buffer {
  if (erasedChunk.length < n) erasedChunk = Buffer.alloc(n, 0xff);
  return erasedChunk.subarray(0, n);
}

function isAllErased(b: Buffer): boolean {
  for (const byte of b) if (byte !== 0xff) return false;
  return true;
}
