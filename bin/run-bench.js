#!/usr/bin/env node
// `npm run bench -- [name…]`: runs benchmarks from bench/ (see docs/benchmarks.md).
import { register } from 'tsx/esm/api';

register();
const { runBenchmarks } = await import('../bench/lib/run-benchmarks.ts');
process.exitCode = await runBenchmarks(process.argv.slice(2));
