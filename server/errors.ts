/**
 * The server's errors: one base class, FerryError, whose `code` is one of the catalogue's
 * (error-codes.ts), and a subclass for each error a caller tells apart. Nothing here knows HTTP:
 * the API maps codes to statuses (api/error-status.ts), CoAP answers take theirs from the
 * catalogue (coap/refusal.ts). protocols/'s DecodeError and PackageError stay there (the
 * simulator shares them); where they reach the API or a CoAP answer they are given codes too
 * (FERRY_DECODE, FERRY_PACKAGE_INVALID).
 */
import type { CoapRefusalCode, FerryCode } from './error-codes.ts';
import type { LockHolder, LockRefusal } from './store/pglite-lock.ts';

export type { CoapRefusalCode, FerryCode } from './error-codes.ts';

export class FerryError<C extends FerryCode = FerryCode> extends Error {
  override name = 'FerryError';
  readonly code: C;
  constructor(code: C, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

// ── inventory ──

export class DeviceNotFoundError extends FerryError<'FERRY_DEVICE_NOT_FOUND'> {
  override name = 'DeviceNotFoundError';
  constructor(message: string) { super('FERRY_DEVICE_NOT_FOUND', message); }
}

export class DuplicateTokenNameError extends FerryError<'FERRY_DUPLICATE_TOKEN_NAME'> {
  override name = 'DuplicateTokenNameError';
  constructor(name: string) { super('FERRY_DUPLICATE_TOKEN_NAME', `a live token is already named ${name}`); }
}

export type UserErrorCode = Extract<FerryCode, `FERRY_USER_${string}`>;

/** A user refused: a taken name, none by that name, disabled, or without the role a token would carry. */
export class UserError extends FerryError<UserErrorCode> {
  override name = 'UserError';
}

export type CredentialsErrorCode = Extract<FerryCode, `FERRY_CREDENTIALS_${string}` | `FERRY_PSK_${string}`>;

/** A device credential refused: bad identity or key, a taken identity, no master key, none to change. */
export class CredentialsError extends FerryError<CredentialsErrorCode> {
  override name = 'CredentialsError';
}

// ── firmware and updates ──

/** No such image, or it was deleted (also while an update was being made with it). */
export class FirmwareNotFoundError extends FerryError<'FERRY_FIRMWARE_NOT_FOUND'> {
  override name = 'FirmwareNotFoundError';
  constructor(message: string) { super('FERRY_FIRMWARE_NOT_FOUND', message); }
}

export class HardwareClassMismatchError extends FerryError<'FERRY_HARDWARE_CLASS_MISMATCH'> {
  override name = 'HardwareClassMismatchError';
  constructor(message: string) { super('FERRY_HARDWARE_CLASS_MISMATCH', message); }
}

export class DuplicateVersionError extends FerryError<'FERRY_DUPLICATE_VERSION'> {
  override name = 'DuplicateVersionError';
  /** `detail`: why the upload is not a re-issue of the image that has the version. */
  constructor(hardwareClass: string, version: string, detail?: string) {
    super('FERRY_DUPLICATE_VERSION', `firmware version ${version} already exists for hardware class ${hardwareClass}${detail === undefined ? '' : `: ${detail}`}`);
  }
}

export class FirmwareInUseError extends FerryError<'FERRY_FIRMWARE_IN_USE'> {
  override name = 'FirmwareInUseError';
  readonly uses: string[];
  constructor(id: number, uses: string[]) {
    super('FERRY_FIRMWARE_IN_USE', `firmware image ${id} is in use: ${uses.join('; ')}`);
    this.uses = uses;
  }
}

export class UpdateInProgressError extends FerryError<'FERRY_UPDATE_IN_PROGRESS'> {
  override name = 'UpdateInProgressError';
  readonly updateId: number;
  constructor(updateId: number) {
    super('FERRY_UPDATE_IN_PROGRESS', `the device already has update ${updateId} in progress`);
    this.updateId = updateId;
  }
}

export type UploadErrorCode = Extract<FerryCode, `FERRY_UPLOAD_${string}`> | 'FERRY_DECODE' | 'FERRY_PACKAGE_INVALID';

/** An upload refused: a bad request, a package that does not decode or verify, a rollback. */
export class UploadError extends FerryError<UploadErrorCode> {
  override name = 'UploadError';
}

// ── trusted package keys ──

export type KeyErrorCode = Exclude<Extract<FerryCode, `FERRY_KEY_${string}`>, 'FERRY_KEY_FILE'>;

/** A trusted key refused or not found through the API, or an upload signed by a key that signs no new one. */
export class KeyError extends FerryError<KeyErrorCode> {
  override name = 'KeyError';
}

// ── releases ──

export type ReleaseErrorCode = Extract<FerryCode, `FERRY_RELEASE_${string}`>;

/** A release refused: a state change its state does not allow, four-eyes, no evidence, the production gate. */
export class ReleaseError extends FerryError<ReleaseErrorCode> {
  override name = 'ReleaseError';
}

// ── campaigns ──

export type CampaignErrorCode = Extract<FerryCode, `FERRY_CAMPAIGN_${string}`>;

export class CampaignError extends FerryError<CampaignErrorCode> {
  override name = 'CampaignError';
}

export type RevertErrorCode = Extract<FerryCode, `FERRY_REVERT_${string}`>;

/** A revert refused: a re-issue package missing (the message says what to upload), or no device to take back. */
export class RevertError extends FerryError<RevertErrorCode> {
  override name = 'RevertError';
}

// ── CoAP and device management ──

/** A handler's refusal: the answer's CoAP code is its code's (error-codes.ts), the message its diagnostic. */
export class CoapRefusalError extends FerryError<CoapRefusalCode> {
  override name = 'CoapRefusalError';
}

const DM_CODES = { timeout: 'FERRY_DM_TIMEOUT', response: 'FERRY_DM_REFUSED', transport: 'FERRY_DM_TRANSPORT', cancelled: 'FERRY_DM_CANCELLED' } as const;

/** A device management request that failed: `kind` says how, `coapCode` is the device's error answer. */
export class DmError extends FerryError<(typeof DM_CODES)[keyof typeof DM_CODES]> {
  override name = 'DmError';
  readonly kind: 'timeout' | 'response' | 'transport' | 'cancelled';
  readonly coapCode?: string;
  constructor(kind: DmError['kind'], message: string, coapCode?: string) {
    super(DM_CODES[kind], message);
    this.kind = kind;
    if (coapCode !== undefined) this.coapCode = coapCode;
  }
}

/** A Block1 body the device refused for good (a 4.13 no smaller block size helps with). */
export class Block1Refused extends FerryError<'FERRY_DM_REFUSED'> {
  override name = 'Block1Refused';
  /** The device's answer, e.g. 4.13. */
  readonly coapCode: string;
  constructor(coapCode: string, message: string) {
    super('FERRY_DM_REFUSED', message);
    this.coapCode = coapCode;
  }
}

// ── start-up and the command line ──

/** A setting (flag or environment variable) that is not valid. */
export class ConfigError extends FerryError<'FERRY_CONFIG'> {
  override name = 'ConfigError';
  constructor(message: string) { super('FERRY_CONFIG', message); }
}

/** Bad or missing options of ferry keygen, sign or verify. */
export class CommandUsageError extends FerryError<'FERRY_USAGE'> {
  override name = 'CommandUsageError';
  constructor(message: string) { super('FERRY_USAGE', message); }
}

/** A key file that is missing, unreadable or not a key; the message names the file. */
export class KeyFileError extends FerryError<'FERRY_KEY_FILE'> {
  override name = 'KeyFileError';
  constructor(message: string) { super('FERRY_KEY_FILE', message); }
}

/** The master key does not fit the stored device keys, or keys are stored and no master key is given. */
export class SecretsKeyError extends FerryError<'FERRY_SECRETS_KEY'> {
  override name = 'SecretsKeyError';
  constructor(message: string) { super('FERRY_SECRETS_KEY', message); }
}

export class MigrationError extends FerryError<'FERRY_MIGRATION'> {
  override name = 'MigrationError';
  constructor(message: string, options?: ErrorOptions) { super('FERRY_MIGRATION', message, options); }
}

/** A data directory another process holds: the message is one line, for the user. */
export class DataDirLockedError extends FerryError<'FERRY_DATA_DIR_LOCKED'> {
  override name = 'DataDirLockedError';
  readonly dir: string;
  /** The lock file (or claim) that refused us. */
  readonly lockFile: string;
  readonly holder: LockHolder | undefined;
  readonly reason: LockRefusal;
  constructor(message: string, o: { dir: string; lockFile: string; reason: LockRefusal; holder: LockHolder | undefined }) {
    super('FERRY_DATA_DIR_LOCKED', message);
    this.dir = o.dir;
    this.lockFile = o.lockFile;
    this.reason = o.reason;
    this.holder = o.holder;
  }
}
