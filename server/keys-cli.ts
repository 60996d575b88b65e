/**
 * `ferry keygen`, `ferry sign`, `ferry verify`: package keys and signed packages on the command
 * line. Each takes argv and returns the exit code: 0 done, 1 failed (verify: did not verify),
 * 2 usage error (bad or missing options, unreadable input files).
 */
import { chmod, readFile, unlink, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { DecodeError } from '../protocols/errors.ts';
import { encodePrivateKeyPem, encodePublicKeyPem, generateSigningKey } from '../protocols/package-keys.ts';
import { DEFAULT_VENDOR_ID, PackageError, signPackage, verifyPackage } from '../protocols/package.ts';
import { CommandUsageError, KeyFileError } from './errors.ts';
import { kidHex, publicHalf, readSigningKeyFile, readTrustAnchorFile } from './firmware/keys.ts';

export interface KeysCliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const defaultIo: KeysCliIo = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) };

const KEYGEN_HELP = `Usage: ferry keygen [--alg ed25519|es256] --out KEYFILE

Makes a package signing key pair: the private key (PKCS#8 PEM) in KEYFILE, mode 0600, and the
public key (SPKI PEM) in KEYFILE.pub, for ferry serve --trusted-keys and for devices.
  --alg A      ed25519 (COSE EdDSA, default) or es256 (ECDSA P-256, SHA-256)
  --out FILE   where the private key goes (and FILE.pub the public key); an existing file is not
               overwritten, neither the key nor the .pub
`;

const SIGN_HELP = `Usage: ferry sign --key KEYFILE --image BIN --version V --class C [--vendor ID] [--sequence N] --out PKG

Wraps a raw image in a signed Ferry package (FRY1, COSE_Sign1 manifest, payload).
  --key FILE      private key from ferry keygen
  --image FILE    the firmware payload
  --version V     firmware version string devices report
  --class C       hardware class (class id) the image is for
  --vendor ID     vendor id (default ${DEFAULT_VENDOR_ID})
  --sequence N    sequence number, above every earlier one of the class (default: now, unix seconds)
  --out FILE      where the package goes
`;

const VERIFY_HELP = `Usage: ferry verify --pub KEYFILE.pub[,KEYFILE.pub…] PKG

Checks a package's signature (against any of the public keys), payload size and SHA-256, and
prints its manifest as JSON. Exit code 0 when it verifies, 1 when it does not, 2 on usage error.
`;

function parse<T extends Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>>(argv: string[], options: T, positionals = false) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: positionals });
  } catch (err) {
    throw new CommandUsageError((err as Error).message);
  }
}

function required(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new CommandUsageError(`--${name} is required`);
  return v;
}

/** Runs `body`; usage errors print the help and give 2, key file errors give 2 too. */
async function run(name: string, help: string, io: KeysCliIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof CommandUsageError) { io.err(`ferry ${name}: ${err.message}\n\n${help}`); return 2; }
    if (err instanceof KeyFileError) { io.err(`ferry ${name}: ${err.message}\n`); return 2; }
    throw err;
  }
}

async function readInput(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new CommandUsageError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Why a file could not be written, in a few words (the errno code and what it means). */
function writeFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    EEXIST: 'the file exists (a key is not overwritten)', ENOENT: 'no such directory', EACCES: 'permission denied',
    EISDIR: 'it is a directory', ENOTDIR: 'a part of the path is not a directory', EROFS: 'read-only file system', ENOSPC: 'no space left on the device',
  };
  return code === undefined ? String(err) : words[code] ? `${words[code]} (${code})` : code;
}

/** Writes a file that must not exist yet; undefined when written, else the reason. */
async function writeNew(path: string, data: string, mode: number): Promise<string | undefined> {
  try {
    await writeFile(path, data, { mode, flag: 'wx' });
    return undefined;
  } catch (err) {
    return `cannot write ${path}: ${writeFailure(err)}`;
  }
}

export function keygenCommand(argv: string[], io: KeysCliIo = defaultIo): Promise<number> {
  return run('keygen', KEYGEN_HELP, io, async () => {
    const { values } = parse(argv, { alg: { type: 'string' }, out: { type: 'string' } });
    if (values.help) { io.out(KEYGEN_HELP); return 0; }
    const alg = values.alg ?? 'ed25519';
    if (alg !== 'ed25519' && alg !== 'es256') throw new CommandUsageError(`--alg must be ed25519 or es256, got "${alg}"`);
    const out = required(values, 'out');
    const key = generateSigningKey(alg);
    // Neither half of an existing pair is overwritten: a .pub left over from another key would
    // otherwise be trusted by servers and devices that the new private key does not match.
    const refused = await writeNew(out, encodePrivateKeyPem(key), 0o600);
    if (refused !== undefined) { io.err(`ferry keygen: ${refused}\n`); return 1; }
    await chmod(out, 0o600); // the mode given to open is subject to the umask
    const pubRefused = await writeNew(`${out}.pub`, encodePublicKeyPem(key), 0o644);
    if (pubRefused !== undefined) {
      await unlink(out);
      io.err(`ferry keygen: ${pubRefused}; nothing written\n`);
      return 1;
    }
    io.out(`${alg} key ${kidHex(key.kid)}: private key in ${out}, public key in ${out}.pub\n`);
    return 0;
  });
}

export function signCommand(argv: string[], io: KeysCliIo = defaultIo): Promise<number> {
  return run('sign', SIGN_HELP, io, async () => {
    const { values } = parse(argv, {
      key: { type: 'string' }, image: { type: 'string' }, version: { type: 'string' }, class: { type: 'string' },
      vendor: { type: 'string' }, sequence: { type: 'string' }, out: { type: 'string' },
    });
    if (values.help) { io.out(SIGN_HELP); return 0; }
    const [keyFile, imageFile, version, classId, out] = ['key', 'image', 'version', 'class', 'out'].map((n) => required(values, n)) as [string, string, string, string, string];
    let sequence = Math.floor(Date.now() / 1000);
    if (values.sequence !== undefined) {
      if (!/^\d{1,16}$/.test(values.sequence) || !Number.isSafeInteger(Number(values.sequence))) throw new CommandUsageError(`--sequence must be a non-negative integer, got "${values.sequence}"`);
      sequence = Number(values.sequence);
    }
    const vendorId = values.vendor ?? DEFAULT_VENDOR_ID;
    for (const [name, v] of [['version', version], ['class', classId], ['vendor', vendorId]] as const) {
      if (v.length > 255) throw new CommandUsageError(`--${name} is longer than 255 characters`);
    }
    const key = await readSigningKeyFile(keyFile);
    const payload = await readInput(imageFile, 'image');
    if (payload.length === 0) throw new CommandUsageError(`the image ${imageFile} is empty`);
    const pkg = signPackage({ payload, key, sequence, vendorId, classId, version });
    try {
      await writeFile(out, pkg);
    } catch (err) {
      io.err(`ferry sign: cannot write ${out}: ${writeFailure(err)}\n`);
      return 1;
    }
    io.out(`${out}: ${classId} ${version}, sequence ${sequence}, ${payload.length}-byte payload, ${pkg.length} bytes, signed by ${key.alg} key ${kidHex(key.kid)}\n`);
    return 0;
  });
}

export function verifyCommand(argv: string[], io: KeysCliIo = defaultIo): Promise<number> {
  return run('verify', VERIFY_HELP, io, async () => {
    const { values, positionals } = parse(argv, { pub: { type: 'string', multiple: true } }, true);
    if (values.help) { io.out(VERIFY_HELP); return 0; }
    const files = (values.pub ?? []).flatMap((v) => v.split(',')).map((f) => f.trim()).filter((f) => f !== '');
    if (files.length === 0) throw new CommandUsageError('--pub is required');
    if (positionals.length !== 1) throw new CommandUsageError('name exactly one package file');
    const anchors = await Promise.all(files.map((f) => readTrustAnchorFile(f)));
    const bytes = await readInput(positionals[0]!, 'package');
    try {
      const { header, anchor } = verifyPackage(bytes, anchors.map(publicHalf));
      const m = header.manifest;
      io.out(`${JSON.stringify({
        manifestVersion: m.manifestVersion, sequence: m.sequence, vendorId: m.vendorId, classId: m.classId, version: m.version,
        payloadSize: m.payloadSize, payloadDigest: Buffer.from(m.payloadDigest).toString('hex'), created: m.created,
        alg: header.alg, kid: header.kid ? kidHex(header.kid) : null, signedBy: `${anchor.alg}:${kidHex(anchor.kid)}`,
      }, null, 2)}\n`);
      return 0;
    } catch (err) {
      if (err instanceof DecodeError || err instanceof PackageError) {
        io.err(`ferry verify: ${positionals[0]} does not verify: ${err instanceof PackageError ? `${err.code}: ` : ''}${err.reason}\n`);
        return 1;
      }
      throw err;
    }
  });
}
