import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Benchmark } from './benchmark.ts';

const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
const SUFFIX = '.bench.ts';

function available(): string[] {
  return readdirSync(BENCH_DIR)
    .filter((file) => file.endsWith(SUFFIX))
    .map((file) => file.slice(0, -SUFFIX.length))
    .sort();
}

function printTable(figures: Record<string, number>): void {
  const width = Math.max(...Object.keys(figures).map((key) => key.length), 6);
  process.stdout.write(`${'figure'.padEnd(width)}  value\n${'-'.repeat(width)}  ${'-'.repeat(14)}\n`);
  for (const [key, value] of Object.entries(figures)) {
    const shown = Number.isInteger(value) ? value.toLocaleString('en-US') : value.toLocaleString('en-US', { maximumFractionDigits: 3 });
    process.stdout.write(`${key.padEnd(width)}  ${shown}\n`);
  }
}

/** `npm run bench -- [name…]`: runs the named benchmarks (all without names). Returns the exit code. */
export async function runBenchmarks(args: string[]): Promise<number> {
  const names = available();
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`Usage: npm run bench -- [name…]\n\nBenchmarks: ${names.join(', ')}\n` +
      'Each prints progress on stderr, a table, and as its last line {"bench":"<name>","figures":{…}}.\n');
    return 0;
  }
  const chosen = args.length > 0 ? args : names;
  const unknown = chosen.filter((name) => !names.includes(name));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; available: ${names.join(', ')}\n`);
    return 2;
  }
  let failed = false;
  for (const name of chosen) {
    const module = (await import(`${BENCH_DIR}${name}${SUFFIX}`)) as { default: Benchmark };
    const benchmark = module.default;
    process.stderr.write(`\n== ${benchmark.name}: ${benchmark.description}\n`);
    try {
      const figures = await benchmark.run({ progress: (message) => process.stderr.write(`   ${message}\n`) });
      printTable(figures);
      process.stdout.write(`${JSON.stringify({ bench: benchmark.name, figures })}\n`);
    } catch (error) {
      failed = true;
      process.stderr.write(`benchmark ${name} failed: ${(error as Error).stack ?? String(error)}\n`);
    }
  }
  return failed ? 1 : 0;
}
