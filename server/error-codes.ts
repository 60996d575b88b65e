/**
 * Every code Ferry refuses or fails with, and what it means: the one list. A code is `FERRY_` and
 * upper-case words; it is stable and public (renaming one breaks clients, adding one does not).
 *
 * - The admin API's error bodies carry it: `{ statusCode, error, message, code }`; the HTTP status
 *   of each code is in server/api/error-status.ts, one per code.
 * - A CoAP error answer's diagnostic payload (RFC 7252 §5.5.2) starts with it: `CODE: message`,
 *   e.g. `FERRY_RD_PAYLOAD_TOO_LARGE: registration payload of 9000 bytes is above the limit of
 *   8192 bytes`. The codes with a `coap` response code are the ones CoAP answers carry, and that
 *   code is the answer's (server/coap/refusal.ts).
 * - Start-up and command-line failures carry one too (the error's `code`), for logs and tests.
 *
 * The README's table of error codes is generated from this list (npm run docs:errors).
 */

interface Entry {
  /** The CoAP response code a CoAP answer with this code has. */
  readonly coap?: string;
  readonly meaning: string;
}

export const FERRY_ERRORS = {
  // The admin API's own refusals.
  FERRY_BAD_REQUEST: { meaning: 'the request is malformed (a URL that does not decode, a body shorter or longer than its Content-Length, …)' },
  FERRY_VALIDATION: { meaning: 'a path parameter, a query parameter or the body is not what the route takes (its JSON schema); the message names it' },
  FERRY_BAD_JSON: { meaning: 'the body is empty or not JSON, though its Content-Type says JSON' },
  FERRY_UNAUTHORIZED: { meaning: 'no bearer token, a malformed Authorization header, or an unknown or revoked token (with WWW-Authenticate)' },
  FERRY_FORBIDDEN: { meaning: 'the token\'s role is below the one the route needs' },
  FERRY_NOT_FOUND: { meaning: 'no such route' },
  FERRY_PAYLOAD_TOO_LARGE: { meaning: 'the body is larger than the route takes (1 MiB; --max-upload-mb for firmware)' },
  FERRY_URI_TOO_LONG: { meaning: 'a path parameter is longer than the server takes' },
  FERRY_UNSUPPORTED_MEDIA_TYPE: { meaning: 'the body\'s Content-Type is not one the route takes' },
  FERRY_INTERNAL: { coap: '5.00', meaning: 'the server failed (logged); a 500 always carries this code' },

  // Inventory, tokens, alerts.
  FERRY_DEVICE_NOT_FOUND: { meaning: 'no device with that endpoint name' },
  FERRY_DEVICE_NOT_REGISTERED: { meaning: 'the device is expired or de-registered: there is nobody to send the request to' },
  FERRY_UPDATE_NOT_FOUND: { meaning: 'no update with that id' },
  FERRY_ALERT_NOT_FOUND: { meaning: 'no alert with that id' },
  FERRY_TOKEN_NOT_FOUND: { meaning: 'no token with that id' },
  FERRY_TOKEN_NAME_RESERVED: { meaning: 'the name is the configured admin token\'s' },
  FERRY_DUPLICATE_TOKEN_NAME: { meaning: 'a live token already has that name' },
  FERRY_TOKEN_EXPIRED: { meaning: 'the bearer token is past its expiresAt: ask an admin for a new one (with WWW-Authenticate)' },
  FERRY_USER_EXISTS: { meaning: 'a user already has that name' },
  FERRY_USER_NOT_FOUND: { meaning: 'no user with that name' },
  FERRY_USER_DISABLED: { meaning: 'the user is disabled: it gets no new token, and its tokens are refused' },
  FERRY_USER_SELF: { meaning: 'an admin cannot disable their own user or withdraw the role of the token they use: another admin must' },
  FERRY_USER_ROLE: { meaning: 'the user does not hold the role the token would carry: grant it first' },
  FERRY_TOKEN_EXPIRY_INVALID: { meaning: 'a token\'s expiresIn or expiresAt is not valid: a positive duration (seconds, or like 12h or 30d) or an instant in the future, at most 730 days ahead; not both' },

  // The audit log.
  FERRY_EXPORT_PERIOD: { meaning: 'an export\'s period is empty: since must be before until' },

  // Device credentials (DTLS pre-shared keys).
  FERRY_CREDENTIALS_NOT_FOUND: { meaning: 'the device has no credentials' },
  FERRY_CREDENTIALS_NO_SECRETS_KEY: { meaning: 'the server has no master key (--secrets-key-file): it stores no device keys' },
  FERRY_PSK_INVALID: { meaning: 'a PSK identity or key that is not valid: a key must be 16 to 64 bytes in hex, an identity 1 to 128 printable characters without spaces' },
  FERRY_PSK_IDENTITY_TAKEN: { meaning: 'another device already has that PSK identity (as its current or its previous one)' },
  FERRY_CREDENTIALS_IMPORT: { meaning: 'a credentials import with bad lines: nothing was imported; the message names each line and what is wrong with it' },

  // Firmware images and updates.
  FERRY_FIRMWARE_NOT_FOUND: { meaning: 'no firmware image with that id (or it was deleted)' },
  FERRY_FIRMWARE_IN_USE: { meaning: 'the image cannot be deleted: an update in flight or a campaign not yet ended uses it' },
  FERRY_DUPLICATE_VERSION: { meaning: 'the hardware class already has an image of that version' },
  FERRY_UPDATE_IN_PROGRESS: { meaning: 'the device already has an update in progress' },
  FERRY_UPDATE_NOT_CANCELLABLE: { meaning: 'the update cannot be cancelled: it has finished, the device is installing it, or the device has no Object 5 Cancel (/5/0/10) to stop its download' },
  FERRY_DEVICE_DECOMMISSIONED: { meaning: 'the device is decommissioned: it takes no update, credentials nor campaign, and is decommissioned only once' },
  FERRY_HARDWARE_CLASS_MISMATCH: { meaning: 'the image is for another hardware class than the device or the campaign\'s target' },

  // Uploads.
  FERRY_UPLOAD_EMPTY: { meaning: 'the image, or the package\'s payload, is empty' },
  FERRY_UPLOAD_QUERY_MISSING: { meaning: 'a raw image needs ?version= and ?hardwareClass= (a package carries them in its manifest)' },
  FERRY_UPLOAD_QUERY_MISMATCH: { meaning: '?version= or ?hardwareClass= says otherwise than the package\'s manifest' },
  FERRY_UPLOAD_OVER_CACHE: { meaning: 'the image devices would receive is larger than the whole image cache (--image-cache-mb)' },
  FERRY_UPLOAD_NO_TRUSTED_KEYS: { meaning: 'a package upload, and the server has no --trusted-keys to verify it with' },
  FERRY_UPLOAD_UNSIGNED: { meaning: 'a raw image (not FRY1), and the server has no --signing-key to sign it with' },
  FERRY_UPLOAD_ROLLBACK: { meaning: 'the package\'s sequence number is not above the hardware class\'s highest (?force=true stores it anyway)' },
  FERRY_UPLOAD_REISSUE_REVOKED: { meaning: 'the package re-issues a release (same class, version and payload) that is revoked' },
  FERRY_PACKAGE_INVALID: { meaning: 'a well-formed package that is refused: unknown key, bad signature, unsupported algorithm, size or digest mismatch' },
  FERRY_DECODE: { coap: '4.00', meaning: 'something in the request does not decode: a firmware package (not a valid Ferry package), a registration\'s query or link-format payload' },

  // Trusted package keys (the registry: ferry keys, /api/v1/keys).
  FERRY_KEY_NOT_FOUND: { meaning: 'no trusted key with that name' },
  FERRY_KEY_EXISTS: { meaning: 'a trusted key already has that name, or the same public key (kid) is trusted already' },
  FERRY_KEY_INVALID: { meaning: 'a key to add is not usable: the PEM is not an Ed25519 or P-256 public key, its validity period is empty, or the name is reserved' },
  FERRY_KEY_FROM_FILE: { meaning: 'the key is read from a key file at start-up (--trusted-keys, --signing-key): remove the file or flag to stop trusting it; the API changes only keys added through it' },
  FERRY_KEY_EXPIRED: { meaning: 'the upload is signed by a trusted key outside its validity period (before notBefore or from notAfter on): it signs no new upload' },
  FERRY_KEY_REVOKED: { meaning: 'the upload is signed by a revoked key: it signs no new upload' },

  // Campaigns.
  // Releases: their life, the four-eyes rule, testbed evidence and the production gate.
  FERRY_RELEASE_STATE: { meaning: 'the release\'s state does not allow that change (e.g. approve an image not in testing, deprecate one not approved); the message names its state and what it needs' },
  FERRY_RELEASE_FOUR_EYES: { meaning: 'the approver is the user who uploaded the image (another token of the same user too): another approver must approve it' },
  FERRY_RELEASE_NO_EVIDENCE: { meaning: 'the image lacks the testbed evidence its hardware class\'s policy asks for; the message lists what is missing (GET /api/v1/firmware/:id/evidence)' },
  FERRY_RELEASE_NOT_APPROVED: { meaning: 'only approved images go to devices that are not testbeds (production campaigns, direct updates): run a testbed campaign, then have an approver approve it' },
  FERRY_RELEASE_REVOKED: { meaning: 'the image is revoked: it starts no update at all, not even on a testbed' },

  FERRY_CAMPAIGN_NOT_FOUND: { meaning: 'no campaign with that id' },
  FERRY_CAMPAIGN_INVALID: { meaning: 'the campaign\'s policy is not one Ferry can run (waves that do not grow, a window that starts where it ends)' },
  FERRY_CAMPAIGN_STATE: { meaning: 'the action does not apply to the campaign in its state (e.g. resume a running one)' },
  FERRY_CAMPAIGN_DEVICES_BUSY: { meaning: 'devices of the campaign are already in another running campaign' },
  FERRY_CAMPAIGN_FIRMWARE_GONE: { meaning: 'the campaign\'s firmware image was deleted' },
  FERRY_CAMPAIGN_EMPTY: { meaning: 'the campaign\'s target matched no registered device: start it with {"allowEmpty": true} to wait for devices that will register' },
  FERRY_REVERT_PACKAGE_MISSING: { meaning: 'a revert needs a re-issue of a release the devices ran before (signed with a higher sequence number) that is not uploaded; the message says what to upload' },
  FERRY_REVERT_NOTHING: { meaning: 'the campaign has no device to revert (none updated, or all moved on since)' },

  // Vulnerabilities and compliance.
  FERRY_VULNERABILITY_NOT_FOUND: { meaning: 'that version of that hardware class is not marked vulnerable' },
  FERRY_COMPLIANCE_POLICY_INVALID: { meaning: 'a compliance policy Ferry cannot apply: its minimumVersion is not a release of the class with a sequence number to order releases by' },

  // Device management (Read, Write, Execute, Observe … through the API).
  FERRY_LWM2M_PATH: { meaning: 'not an LwM2M path, or not the kind the operation takes (Create on an object, Delete on an instance, Execute on a resource)' },
  FERRY_LWM2M_VALUE: { meaning: 'a value does not fit its resource, or the body gives none' },
  FERRY_LWM2M_NOT_OBSERVED: { meaning: 'the path is not observed through the API' },
  FERRY_DM_PAYLOAD_TOO_LARGE: { meaning: 'the request would carry more than one CoAP message takes (1024 bytes)' },
  FERRY_DM_TIMEOUT: { meaning: 'the device did not answer in time' },
  FERRY_DM_TRANSPORT: { meaning: 'the request could not reach the device (or a queue-mode device has not talked yet)' },
  FERRY_DM_CANCELLED: { meaning: 'the request ended unanswered: the device left, the observation ended, or the server is stopping' },
  FERRY_DM_REFUSED: { meaning: 'the device answered with an error code the API does not mirror (5.xx, 4.08, 4.12, …)' },
  FERRY_DM_BAD_ANSWER: { meaning: 'the device\'s answer does not decode' },
  FERRY_DM_BAD_REQUEST: { meaning: 'the device answered 4.00 Bad Request' },
  FERRY_DM_UNAUTHORIZED: { meaning: 'the device answered 4.01 Unauthorized (the server has no access right)' },
  FERRY_DM_FORBIDDEN: { meaning: 'the device answered 4.03 Forbidden' },
  FERRY_DM_NOT_FOUND: { meaning: 'the device answered 4.04 Not Found: it has no such object, instance or resource' },
  FERRY_DM_METHOD_NOT_ALLOWED: { meaning: 'the device answered 4.05 Method Not Allowed (e.g. Write on a read-only resource)' },
  FERRY_DM_NOT_ACCEPTABLE: { meaning: 'the device answered 4.06 Not Acceptable: it cannot answer in the format asked for' },
  FERRY_DM_TOO_LARGE: { meaning: 'the device answered 4.13 Request Entity Too Large' },
  FERRY_DM_UNSUPPORTED_FORMAT: { meaning: 'the device answered 4.15 Unsupported Content-Format' },

  // CoAP: any request on the LwM2M or the download socket.
  FERRY_COAP_METHOD_NOT_ALLOWED: { coap: '4.05', meaning: 'the method is not one the resource takes' },
  FERRY_COAP_BAD_OPTION: { coap: '4.02', meaning: 'an unsupported critical option, or an option value too long (RFC 7252 §5.4.1)' },
  FERRY_COAP_NOT_FOUND: { coap: '4.04', meaning: 'no such resource' },
  FERRY_COAP_STARTING: { coap: '5.03', meaning: 'the server is starting (its socket is bound, its handlers not yet given): retry after Max-Age' },
  FERRY_BLOCK_INVALID: { coap: '4.00', meaning: 'a Block option RFC 7959 forbids: SZX 7, a block that is not its size' },
  FERRY_BLOCK_PAST_END: { coap: '4.02', meaning: 'a Block2 block past the end of the image' },
  FERRY_BLOCK1_NO_TOKEN: { coap: '4.00', meaning: 'a Block1 request without a token' },
  FERRY_BLOCK1_INCOMPLETE: { coap: '4.08', meaning: 'a Block1 block that continues no body the server holds: start again at block 0' },
  FERRY_BLOCK1_TOO_LARGE: { coap: '4.13', meaning: 'a request body larger than the server takes (Size1 says how large)' },
  FERRY_BLOCK1_TOO_MANY_BODIES: { coap: '4.13', meaning: 'too many unfinished request bodies from the address: try again later' },

  // CoAP: registration (/rd).
  FERRY_RD_LWM2M_VERSION: { coap: '4.12', meaning: 'a Register with an LwM2M version the server does not support (1.0, 1.1, 1.2)' },
  FERRY_RD_LIFETIME: { coap: '4.00', meaning: 'a lifetime (lt=) above the server\'s maximum (--max-lifetime)' },
  FERRY_RD_PAYLOAD_TOO_LARGE: { coap: '4.13', meaning: 'a registration payload above the server\'s limit (--max-registration-payload; Size1 says it)' },
  FERRY_RD_CONTENT_FORMAT: { coap: '4.15', meaning: 'a registration payload that is not application/link-format (40)' },
  FERRY_RD_RATE_LIMITED: { coap: '4.29', meaning: 'too many Registers of new endpoints (--register-limit-*): retry after Max-Age seconds' },
  FERRY_RD_NOT_FOUND: { coap: '4.04', meaning: 'no registration with that id (it expired, or the device registered again)' },
  FERRY_RD_IDENTITY_MISMATCH: { coap: '4.03', meaning: 'the DTLS session\'s PSK identity belongs to another endpoint (or to none) than the one registering, updating or de-registering' },
  FERRY_RD_CREDENTIALS_REQUIRED: { coap: '4.03', meaning: 'the endpoint has credentials (or registered over DTLS): it registers, updates and de-registers only over its own DTLS session' },
  FERRY_RD_DECOMMISSIONED: { coap: '4.03', meaning: 'the endpoint was decommissioned (POST /api/v1/devices/:endpoint/decommission): its Registers are refused for good' },

  // CoAP: firmware downloads (/fw).
  FERRY_FW_NOT_FOUND: { coap: '4.04', meaning: 'no firmware image by that name (or, for a numeric id, none under way for this device)' },
  FERRY_FW_NOT_YOURS: { coap: '4.03', meaning: 'over DTLS, an image is served only within a session whose device has an update of that image under way' },
  FERRY_FW_NOT_ACCEPTABLE: { coap: '4.06', meaning: 'an Accept other than application/octet-stream (42)' },
  FERRY_FW_RATE_LIMITED: { coap: '4.29', meaning: 'too many blocks from the address, and no update under way there: retry after Max-Age seconds' },

  // Start-up and the command line (never an API answer).
  FERRY_CONFIG: { meaning: 'start-up: a setting (flag or environment variable) is not valid; ferry serve exits 2' },
  FERRY_USAGE: { meaning: 'command line: bad or missing options of ferry keygen, sign or verify; exits 2' },
  FERRY_KEY_FILE: { meaning: 'start-up (or ferry sign, verify): a key file is missing, unreadable or not a key' },
  FERRY_DATA_DIR_LOCKED: { meaning: 'start-up: another process holds the PGlite data directory (--db-dir)' },
  FERRY_SECRETS_KEY: { meaning: 'start-up: the master key (--secrets-key-file) is not the one the stored device keys were encrypted with, or device keys are stored and no master key is given' },
  FERRY_MIGRATION: { meaning: 'start-up: a schema migration failed or does not match what was applied' },
} as const satisfies Record<`FERRY_${string}`, Entry>;

type Catalogue = typeof FERRY_ERRORS;
export type FerryCode = keyof Catalogue;
/** The codes a CoAP answer carries, each with its response code. */
export type CoapRefusalCode = { [C in FerryCode]: Catalogue[C] extends { coap: string } ? C : never }[FerryCode];
export type CoapCodeOf<C extends CoapRefusalCode> = Catalogue[C]['coap'];

/** Every code, in the catalogue's order. */
export const FERRY_CODES = Object.keys(FERRY_ERRORS) as FerryCode[];

/** The entry of one code: its meaning, and its CoAP response code when CoAP answers carry it. */
export const errorEntry = (code: FerryCode): Entry => FERRY_ERRORS[code];
