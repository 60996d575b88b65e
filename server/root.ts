/**
 * The project's root folder (package.json, migrations/, README.md), from the TypeScript sources
 * (server/) or from their compiled copy (dist/server/, which has no package.json of its own).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const above = fileURLToPath(new URL('..', import.meta.url));

export const ROOT = existsSync(join(above, 'package.json')) ? above : dirname(above);

/** A path under the root. */
export const fromRoot = (...parts: string[]): string => join(ROOT, ...parts);

/** package.json's version. */
export function ferryVersion(): string {
  return (JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as { version: string }).version;
}
