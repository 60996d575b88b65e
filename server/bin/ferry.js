#!/usr/bin/env node
// The `ferry` command. TypeScript runs through tsx's loader, so there is no build step to forget.
import { register } from 'tsx/esm/api';

register();
await import('../cli.ts');
