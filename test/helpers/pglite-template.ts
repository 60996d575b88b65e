/**
 * A migrated, empty PGlite cluster to start test databases from. A fresh PGlite spends ~5 CPU s
 * in initdb; loading this dump takes ~1. Built once per machine for a given set of migrations and
 * PGlite version (the file name holds their digest), in the system's temporary directory; `npm
 * test` builds it before the first file runs. The test still migrates what it loads, which finds
 * every migration applied: what runs is the same migrations on a real PGlite.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../../server/store/migrate.ts';
import { openPglite } from '../../server/store/pglite.ts';

const PREFIX = 'ferry-pglite-template-';

async function templatePath(): Promise<string> {
  const hash = createHash('sha256');
  const pkg = new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url);
  hash.update((JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version);
  for (const m of await readMigrations(MIGRATIONS_DIR)) hash.update(`${m.version}:${m.checksum}\n`);
  return join(tmpdir(), `${PREFIX}${hash.digest('hex').slice(0, 16)}.tar`);
}

/** The dump: this machine's file, or built now and saved for the next process (when the disk takes it). */
export async function pgliteTemplate(): Promise<Blob> {
  const path = await templatePath();
  const saved = await readFile(path).catch(() => null); // none yet (or removed by a checkout with other migrations)
  if (saved !== null) return new Blob([saved]);
  const dump = await buildDump();
  // Written aside, then renamed: a process racing this one reads a whole file or none.
  const partial = `${path}.${process.pid}.partial`;
  try {
    await writeFile(partial, dump);
    await rename(partial, path);
    // Dumps of earlier migration sets are of no more use (41 MB each).
    for (const name of await readdir(tmpdir())) {
      if (name.startsWith(PREFIX) && name.endsWith('.tar') && join(tmpdir(), name) !== path) await rm(join(tmpdir(), name), { force: true });
    }
  } catch (err) {
    await rm(partial, { force: true }).catch(() => {});
    process.stderr.write(`[pglite-template] not saved to ${path} (${(err as Error).message}): each test process builds its own\n`);
  }
  return new Blob([dump]);
}

async function buildDump(): Promise<Buffer> {
  const db = await openPglite({});
  try {
    await migrate(db, { dir: MIGRATIONS_DIR });
    return Buffer.from(await (await db.dumpDataDir()).arrayBuffer());
  } finally {
    await db.close();
  }
}
