#!/usr/bin/env node
// The `ferry` command: the compiled copy in dist/ (built on install) when it is as new as the
// sources, else the TypeScript sources through tsx's loader (a checkout being worked on).
import { compiledEntry } from './compiled.js';

const entry = compiledEntry();
if (entry !== undefined) {
  await import(entry);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli.ts');
}
