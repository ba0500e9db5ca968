import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../fixtures/replay-orders.ts';

const BRAID = fileURLToPath(new URL('../../bin/braid.js', import.meta.url));
const run = promisify(execFile);

/** Runs the CLI with no Kafka configured: these runs must not need one. */
async function braid(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, BRAID_LOG_LEVEL: 'warn', KAFKA_BROKERS: '127.0.0.1:1' };
  try {
    const { stdout, stderr } = await run(process.execPath, [BRAID, ...args], { env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const header = 'ts,user_id,session_id,url,country,device,revenue,campaign';
const good = (user: string) => `2026-01-01T00:00:00Z,${user},s1,/,US,mobile,,spring`;

// Each case starts the CLI (a few seconds each on a busy machine).
describe('npx braid produce --file --dry-run', { timeout: 60_000 }, () => {
  it('counts rows read, valid and bad per problem, lists the first bad rows, and exits 0', async () => {
    using dir = scratchDir();
    const file = dir.file('clicks.csv');
    writeFileSync(
      file,
      [header, good('u1'), 'later,u2,s1,/,US,mobile,,', good('u3'), '2026-01-01T00:00:00Z,u4,s1,/,US,mobile,lots,', 'never,u5,s1,/,US,mobile,,', '2026-01-01T00:00:00Z,,s1,/,US,mobile,,'].join('\n'),
    );
    const { code, stdout, stderr } = await braid(['produce', 'clickstream', '--file', file, '--dry-run']);
    expect(code, stderr).toBe(0);
    expect(stdout).toBe(
      [
        `${file} (csv): 6 rows read, 2 valid, 4 bad (dry run: nothing sent)`,
        'bad rows by problem:',
        '  2  ts: not a timestamp',
        '  1  revenue: not a number',
        '  1  user_id: missing',
        'first bad rows:',
        '  row 2: ts: "later" is not a timestamp',
        '  row 4: revenue: "lots" is not a number',
        '  row 5: ts: "never" is not a timestamp',
        '  row 6: user_id: missing',
        '',
      ].join('\n'),
    );
    expect(stderr).toContain(`${file}: ignoring column that source clickstream lacks: campaign`);
  });

  it('stops after --count rows', async () => {
    using dir = scratchDir();
    const file = dir.file('clicks.ndjson');
    const line = JSON.stringify({ ts: 1767225600000, user_id: 'u1', session_id: 's', url: '/', country: 'US', device: 'mobile' });
    writeFileSync(file, `${line}\n${line}\n${line}\n`);
    const { code, stdout } = await braid(['produce', 'clickstream', '--file', file, '--dry-run', '--count', '2']);
    expect(code).toBe(0);
    expect(stdout).toBe(`${file} (ndjson): 2 rows read, 2 valid, 0 bad (dry run: nothing sent)\n`);
  });
});

describe('npx braid produce --file: what makes the file unusable is one line and exit 2', { timeout: 60_000 }, () => {
  it.each([
    ['a missing file', 'missing.csv', undefined, /^braid: cannot read .*missing\.csv: no such file\n$/],
    ['an unknown extension', 'clicks.txt', 'x', /^braid: .*clicks\.txt: cannot tell the format from the extension \.txt\n {2}name it/],
    ['an unreadable Parquet file', 'clicks.parquet', 'not parquet', /^braid: cannot read .*clicks\.parquet as Parquet: [^\n]+\n$/],
    ['a CSV without a non-nullable column', 'clicks.csv', 'ts,user_id\n2026-01-01,u1\n', /^braid: .*clicks\.csv has no column for fields session_id, url, country, device of source clickstream, which are not nullable\n/],
  ])('%s', async (_what, name, content, message) => {
    using dir = scratchDir();
    if (content !== undefined) writeFileSync(dir.file(name), content);
    const { code, stdout, stderr } = await braid(['produce', 'clickstream', '--file', dir.file(name), '--dry-run']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses demo-only flags with --file, and --dry-run without it', async () => {
    using dir = scratchDir();
    writeFileSync(dir.file('clicks.csv'), `${header}\n${good('u1')}\n`);
    const demoFlags = await braid(['produce', 'clickstream', '--file', dir.file('clicks.csv'), '--seed', '3', '--bad-fraction', '0.1', '--dry-run']);
    expect(demoFlags.code).toBe(2);
    expect(demoFlags.stderr).toMatch(/^braid: --seed, --bad-fraction are for demo events only; --file replays the file's own events\n/);
    const dryRun = await braid(['produce', 'clickstream', '--dry-run', '--count', '1']);
    expect(dryRun.code).toBe(2);
    expect(dryRun.stderr).toMatch(/^braid: --dry-run goes with --file\n/);
  });
});
