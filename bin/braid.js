#!/usr/bin/env node
// Entry point of `npx braid`. Braid runs its TypeScript through tsx's loader,
// so a checkout needs no build step and `npx braid` always runs the code as it is.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
