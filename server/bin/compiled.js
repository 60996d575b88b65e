// Where the compiled copy of the TypeScript sources lives (dist/, made by build.js on install),
// and whether it is as new as the sources: the `ferry` command runs it then, and the sources
// through tsx otherwise (a checkout being worked on).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DIST = join(ROOT, 'dist');
/** Written last by the build, with the time the build started. */
export const STAMP = join(DIST, '.built');
/** The folders compiled: everything the command and the server import. */
export const SOURCE_DIRS = ['server', 'protocols', 'simulator'];

/** Every TypeScript source under SOURCE_DIRS, as absolute paths. */
export function sourceFiles() {
  return SOURCE_DIRS.flatMap((dir) => readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).map((f) => join(ROOT, dir, f)));
}

/** dist/server/cli.js as a URL when the build finished after every source last changed, else undefined. */
export function compiledEntry() {
  let built;
  try {
    built = statSync(STAMP).mtimeMs;
  } catch {
    return undefined;
  }
  for (const f of sourceFiles()) if (statSync(f).mtimeMs > built) return undefined;
  return pathToFileURL(join(DIST, 'server', 'cli.js')).href;
}
