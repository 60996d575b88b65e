// ferry keygen / sign / verify, as a user runs them: `node server/bin/ferry.js …` in a temp dir.
import { execFile } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePublicKeyPem } from '../../protocols/package-keys.ts';
import { verifyPackage } from '../../protocols/package.ts';

const FERRY = resolve(fileURLToPath(import.meta.url), '../../../server/bin/ferry.js');
const dir = mkdtempSync(join(tmpdir(), 'ferry-cli-'));
const at = (name: string): string => join(dir, name);

function ferry(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [FERRY, ...args], { cwd: dir, timeout: 30_000 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const IMAGE = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff));
writeFileSync(at('fw.bin'), IMAGE);

test('keygen: private key mode 0600 and KEYFILE.pub, both read by Node\'s crypto; never overwrites', async () => {
  const [ed, es] = await Promise.all([ferry('keygen', '--alg', 'ed25519', '--out', 'ed.key'), ferry('keygen', '--alg', 'es256', '--out', 'es.key')]);
  assert.is(ed.code, 0, ed.stderr);
  assert.is(es.code, 0, es.stderr);
  assert.match(ed.stdout, /ed25519 key [0-9a-f]{16}/);
  for (const [name, type] of [['ed', 'ed25519'], ['es', 'ec']] as const) {
    assert.is(statSync(at(`${name}.key`)).mode & 0o777, 0o600);
    assert.is(createPrivateKey(readFileSync(at(`${name}.key`))).asymmetricKeyType, type);
    assert.is(createPublicKey(readFileSync(at(`${name}.key.pub`))).asymmetricKeyType, type);
  }
  const before = readFileSync(at('ed.key'), 'utf8');
  const again = await ferry('keygen', '--out', 'ed.key');
  assert.is(again.code, 1);
  assert.match(again.stderr, /exists/);
  assert.is(readFileSync(at('ed.key'), 'utf8'), before);
  const usage = await ferry('keygen', '--alg', 'rsa', '--out', 'x.key');
  assert.is(usage.code, 2);
  assert.match(usage.stderr, /--alg must be ed25519 or es256/);
});

test('sign then verify: the package verifies with the public key, in the CLI and in code', async () => {
  const signed = await ferry('sign', '--key', 'ed.key', '--image', 'fw.bin', '--version', '2.0.0', '--class', 'sensor-v2',
    '--vendor', 'acme', '--sequence', '7', '--out', 'fw.pkg');
  assert.is(signed.code, 0, signed.stderr);
  const anchor = parsePublicKeyPem(readFileSync(at('ed.key.pub'), 'utf8'));
  const { header, payload } = verifyPackage(readFileSync(at('fw.pkg')), [anchor]);
  assert.ok(Buffer.from(payload).equals(IMAGE));
  assert.equal([header.manifest.version, header.manifest.classId, header.manifest.vendorId, header.manifest.sequence], ['2.0.0', 'sensor-v2', 'acme', 7]);

  const verified = await ferry('verify', '--pub', 'es.key.pub,ed.key.pub', 'fw.pkg');
  assert.is(verified.code, 0, verified.stderr);
  const manifest = JSON.parse(verified.stdout);
  assert.is(manifest.version, '2.0.0');
  assert.is(manifest.classId, 'sensor-v2');
  assert.is(manifest.sequence, 7);
  assert.is(manifest.payloadSize, IMAGE.length);
  assert.is(manifest.alg, -8);
  assert.is(manifest.signedBy, `ed25519:${Buffer.from(anchor.kid).toString('hex')}`);
});

test('sign defaults: ES256, vendor ferry, sequence = now in seconds', async () => {
  const before = Math.floor(Date.now() / 1000);
  const signed = await ferry('sign', '--key', 'es.key', '--image', 'fw.bin', '--version', '1', '--class', 'c', '--out', 'es.pkg');
  assert.is(signed.code, 0, signed.stderr);
  const { header } = verifyPackage(readFileSync(at('es.pkg')), [parsePublicKeyPem(readFileSync(at('es.key.pub'), 'utf8'))]);
  assert.is(header.alg, -7);
  assert.is(header.manifest.vendorId, 'ferry');
  assert.ok(header.manifest.sequence >= before && header.manifest.sequence <= Math.floor(Date.now() / 1000));
});

test('verify refuses: wrong key, a tampered package (exit 1); usage errors (exit 2)', async () => {
  const tampered = readFileSync(at('fw.pkg'));
  tampered[tampered.length - 1]! ^= 1;
  writeFileSync(at('bad.pkg'), tampered);
  const [wrongKey, bad, noPackage, missingPub, noClass] = await Promise.all([
    ferry('verify', '--pub', 'es.key.pub', 'fw.pkg'),
    ferry('verify', '--pub', 'ed.key.pub', 'bad.pkg'),
    ferry('verify', '--pub', 'ed.key.pub'),
    ferry('verify', '--pub', 'nope.pub', 'fw.pkg'),
    ferry('sign', '--key', 'ed.key', '--image', 'fw.bin', '--version', '1', '--out', 'x.pkg'),
  ]);
  assert.is(wrongKey.code, 1);
  assert.match(wrongKey.stderr, /unknown-key/);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /digest/);
  assert.equal([noPackage.code, missingPub.code, noClass.code], [2, 2, 2]);
  assert.match(missingPub.stderr, /nope\.pub/);
  assert.match(noClass.stderr, /--class is required/);
});

/** One line on stderr, no stack frames. */
const oneLine = (stderr: string): void => {
  assert.is(stderr.trimEnd().split('\n').length, 1, stderr);
  assert.not.match(stderr, /^\s+at /m);
};

test('keygen never overwrites an existing KEYFILE.pub either, and writes nothing then', async () => {
  writeFileSync(at('old.key.pub'), 'the public key servers already trust\n');
  const res = await ferry('keygen', '--out', 'old.key');
  assert.is(res.code, 1);
  assert.match(res.stderr, /old\.key\.pub: the file exists/);
  oneLine(res.stderr);
  assert.is(readFileSync(at('old.key.pub'), 'utf8'), 'the public key servers already trust\n');
  assert.not.ok(existsSync(at('old.key')), 'no private key left without its public half');
});

test('an output that cannot be written: exit 1, one clear line, no stack trace (sign and keygen)', async () => {
  const [sign, keygen] = await Promise.all([
    ferry('sign', '--key', 'ed.key', '--image', 'fw.bin', '--version', '1', '--class', 'c', '--out', '/nonexistent/dir/q.pkg'),
    ferry('keygen', '--out', '/nonexistent/dir/k.key'),
  ]);
  assert.is(sign.code, 1);
  assert.is(sign.stderr, 'ferry sign: cannot write /nonexistent/dir/q.pkg: no such directory (ENOENT)\n');
  assert.is(keygen.code, 1);
  assert.is(keygen.stderr, 'ferry keygen: cannot write /nonexistent/dir/k.key: no such directory (ENOENT)\n');
  const intoDir = await ferry('sign', '--key', 'ed.key', '--image', 'fw.bin', '--version', '1', '--class', 'c', '--out', dir);
  assert.is(intoDir.code, 1);
  assert.match(intoDir.stderr, /it is a directory \(EISDIR\)/);
  oneLine(intoDir.stderr);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
