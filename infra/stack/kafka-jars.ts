import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { requireTool, tailFile } from './processes.ts';

const POM = fileURLToPath(new URL('../kafka/pom.xml', import.meta.url));
const COMPLETE_MARKER = '.complete';

/** Where the broker's jars are cached: outside the repo, shared by every checkout. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(base, 'braid');
}

/**
 * Makes sure the Apache Kafka broker's runtime jars for `version` are in the
 * cache, fetching them from Maven Central with `mvn` on first use. Returns the
 * folder of jars (the broker's classpath). Safe to interrupt: jars are fetched
 * into a temporary folder that becomes the cache only when complete.
 */
export async function ensureKafkaJars(options: {
  version: string;
  cacheDir: string;
  report: (message: string) => void;
}): Promise<string> {
  const libs = path.join(options.cacheDir, `kafka-${options.version}`, 'libs');
  if (existsSync(path.join(libs, COMPLETE_MARKER))) return libs;

  requireTool('mvn', ['-v'], 'install Apache Maven (Debian: apt-get install maven), or set KAFKA_BROKERS to use a Kafka you run yourself');
  const staging = `${libs}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const logFile = path.join(path.dirname(libs), 'mvn.log');
  options.report(`Fetching Apache Kafka ${options.version} jars from Maven Central with mvn (first run only; log: ${logFile})`);

  const log = createWriteStream(logFile);
  let downloaded = 0;
  const exitCode = await new Promise<number>((resolve, reject) => {
    const child = spawn(
      'mvn',
      [
        '-B',
        '-f',
        POM,
        `-Dkafka.version=${options.version}`,
        'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies',
        '-DincludeScope=runtime',
        `-DoutputDirectory=${staging}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      const text = chunk.toString('utf8');
      const matches = text.match(/Downloaded from/g);
      if (matches) {
        downloaded += matches.length;
        if (downloaded % 25 < matches.length) options.report(`  … ${downloaded} artifacts downloaded`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? 1));
  });
  await new Promise<void>((resolve) => log.end(resolve));

  const jars = readdirSync(staging).filter((name) => name.endsWith('.jar'));
  if (exitCode !== 0 || !jars.some((name) => name.startsWith(`kafka_2.13-${options.version}`))) {
    rmSync(staging, { recursive: true, force: true });
    throw new BraidError(ErrorCode.MAVEN_FETCH_FAILED, `mvn could not fetch org.apache.kafka:kafka_2.13:${options.version} from Maven Central`, {
      fields: { version: options.version, logFile },
      hint: `see ${logFile}; last lines:\n${tailFile(logFile, 12)}`,
    });
  }
  writeFileSync(path.join(staging, COMPLETE_MARKER), `${jars.length} jars\n`);
  rmSync(libs, { recursive: true, force: true });
  renameSync(staging, libs);
  options.report(`Kafka ${options.version}: ${jars.length} jars cached in ${libs}`);
  return libs;
}
