import { readFileSync } from 'node:fs';
import path from 'node:path';
import { inject, describe, expect, it } from 'vitest';
import { createTopic, runBraid, tempDir, testEnv, testKafka, topicMessageCount } from '../harness/index.ts';

const braid = (args: string[], env: NodeJS.ProcessEnv = testEnv()) => runBraid(args, { env });

describe('npx braid', () => {
  it('--help lists the commands', async () => {
    const { code, stdout } = await braid(['--help']);
    expect(code).toBe(0);
    for (const command of ['stack', 'produce', 'config']) expect(stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
  });

  it('stack up prints KAFKA_BROKERS= and REDIS_URL= lines for configured endpoints', async () => {
    const { code, stdout } = await braid(['stack', 'up']);
    expect(code).toBe(0);
    expect(stdout).toBe(`KAFKA_BROKERS=${inject('kafkaBrokers').join(',')}\nREDIS_URL=${inject('redisUrl')}\n`);
  });

  it('a bad config value fails at start-up naming the key, with exit code 2', async () => {
    const { code, stderr } = await braid(['config'], testEnv({ BRAID_LOG_LEVEL: 'loud' }));
    expect(code).toBe(2);
    expect(stderr).toMatch(/invalid configuration:\n {2}- log\.level \(from env BRAID_LOG_LEVEL\)/);
  });

  it('bad flags are usage errors that say what the flag takes', async () => {
    const rate = await braid(['produce', 'clickstream', '--rate', 'fast', '--count', '1']);
    expect(rate.code).not.toBe(0);
    expect(rate.stderr).toMatch(/--rate takes a whole number/);
    const source = await braid(['produce', 'nosuch', '--count', '1']);
    expect(source.code).toBe(1);
    expect(source.stderr).toMatch(/unknown source "nosuch"\n {2}known sources: clickstream/);
    const span = await braid(['produce', 'clickstream', '--start', '2026-01-01T00:00:00Z', '--count', '1']);
    expect(span.code).toBe(2);
    expect(span.stderr).toMatch(/--start and --span go together/);
  });

  it('produce --count --seed --tee writes the file and the topic holds the same number', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'cli-produce', partitions: 2 });
    using dir = tempDir();
    const tee = path.join(dir.path, 'e.jsonl');
    const { code, stderr } = await braid(['produce', 'clickstream', '--count', '2000', '--seed', '1', '--rate', 'max', '--tee', tee, '--topic', topic.topic, '--bad-fraction', '0.01']);
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/Produced 2000 messages to/);
    expect(readFileSync(tee, 'utf8').trimEnd().split('\n')).toHaveLength(2_000);
    expect(await topicMessageCount(kafka, topic.topic)).toBe(2_000);
  });

  it('--log-format json writes JSON lines to stderr, --log-format pretty human lines, and neither shows kafkajs\'s bounded-retries warning', async () => {
    await using topic = await createTopic(testKafka(), { prefix: 'cli-log-format' });
    const produce = (format: string) =>
      braid(['produce', 'clickstream', '--count', '10', '--seed', '1', '--rate', 'max', '--topic', topic.topic, '--log-format', format], testEnv({ BRAID_LOG_LEVEL: 'info' }));
    const isJson = (line: string) => line.startsWith('{') && typeof (JSON.parse(line) as { msg?: unknown }).msg === 'string';

    const json = await produce('json');
    expect(json.code, json.stderr).toBe(0);
    const jsonLogs = json.stderr.split('\n').filter((line) => line.startsWith('{'));
    expect(jsonLogs.every(isJson)).toBe(true);
    expect(jsonLogs.map((line) => JSON.parse(line) as Record<string, unknown>)).toContainEqual(expect.objectContaining({ level: 'info', name: 'produce', msg: 'producing demo events' }));

    const pretty = await produce('pretty');
    expect(pretty.code, pretty.stderr).toBe(0);
    expect(pretty.stderr).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO \(produce\): producing demo events \{/m);
    expect(pretty.stderr.split('\n').some((line) => line.startsWith('{'))).toBe(false);
    expect(pretty.stderr).toMatch(/Produced 10 messages to/);

    for (const { stderr } of [json, pretty]) expect(stderr).not.toMatch(/Limiting retries/);
  });

  it('query answers a view in table, json and csv, and names a bad argument (exit 2), also a binary format without --output; schema exports the SDL', async () => {
    using dir = tempDir();
    const env = testEnv({ BRAID_DATA_DIR: path.join(dir.path, 'data'), BRAID_REDIS_KEY_PREFIX: `${path.basename(dir.path)}:` });
    const json = await braid(['query', 'page_views', '--from', 'now-2h', '--granularity', '1h', '--where', 'url=/,/cart', '--format', 'json'], env);
    expect(json.code, json.stderr).toBe(0);
    const answer = JSON.parse(json.stdout) as { rows: unknown[]; meta: { granularityMs: number; batchVersion: null; partial: boolean } };
    expect(answer).toMatchObject({ rows: [], meta: { granularityMs: 3_600_000, batchVersion: null, partial: false } });
    expect(json.stderr).toMatch(/0 rows from no layer; batch v- cutoff none/);
    const csv = await braid(['query', 'page_views', '--format', 'csv'], env);
    expect(csv.stdout).toBe('windowStart,windowEnd,url,views,visitors,revenue\n');
    const weekly = await braid(['query', 'page_views', '--from', '2026-01-15T12:00:00Z', '--to', '2026-01-16T00:00:00Z', '--granularity', '1w', '--time-zone', 'America/New_York', '--format', 'json'], env);
    expect(weekly.code, weekly.stderr).toBe(0);
    expect((JSON.parse(weekly.stdout) as { meta: unknown }).meta).toMatchObject({ from: '2026-01-12T05:00:00.000Z', granularity: '1w', timeZone: 'America/New_York' });
    const badZone = await braid(['query', 'page_views', '--time-zone', 'Mars/Base'], env);
    expect(badZone.code).toBe(2);
    expect(badZone.stderr).toMatch(/argument `timeZone` must be an IANA time zone/);
    const bad = await braid(['query', 'country_minutes', '--granularity', '1h'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/argument `granularity` cannot roll country_minutes up to 1h/);
    const noFile = await braid(['query', 'page_views', '--format', 'parquet'], env);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toBe('braid: --format parquet writes a binary file: give it with --output <file>\n');
    const unknown = await braid(['query', 'nosuch'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/nosuch/);

    const schema = await braid(['schema', '-o', '-'], env);
    expect(schema.code).toBe(0);
    expect(schema.stdout).toMatch(/pageViews\(/);
    expect(schema.stdout).toMatch(/type PageViewsRow \{[^}]*views: Long!/);
    expect(schema.stdout).toMatch(/pageViewsUpdated\(/);
    const file = path.join(dir.path, 'schema.graphql');
    expect((await braid(['schema', '-o', file], env)).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(schema.stdout);
  });
});
