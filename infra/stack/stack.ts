import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../shared/config/index.ts';
import { readStackState, redactUrl, stackStateFile, type StackState } from '../../shared/config/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { defaultCacheDir, ensureKafkaJars } from './kafka-jars.ts';
import { kafkaLogTail, startKafkaBroker } from './kafka-broker.ts';
import { isAlive, isOurProcess, sleep, stopProcess, tailFile } from './processes.ts';
import { isPortFree, pickFreePort } from './ports.ts';
import { kafkaAnswers, probeKafka, probeRedis, redisAnswers } from './probes.ts';
import { startRedisServer } from './redis-server.ts';

/** How `up` came by each service. */
export type Provenance = 'external' | 'reused' | 'started';

export interface StackEndpoints {
  readonly kafkaBrokers: string[];
  readonly redisUrl: string;
}

export interface StackUpResult extends StackEndpoints {
  readonly kafka: Provenance;
  readonly redis: Provenance;
}

export type Report = (message: string) => void;

/**
 * Ensures a Kafka broker and a Redis server answer, and returns where.
 * Configured endpoints (env or config file) are used as they are; otherwise
 * the local stack under `config.stack.dir` is reused if it runs, or started.
 * Idempotent, and what it starts is recorded so `stackDown` stops exactly that.
 */
export async function stackUp(config: Config, report: Report = () => undefined): Promise<StackUpResult> {
  mkdirSync(config.stack.dir, { recursive: true });
  // Both are awaited before any failure is reported, so the output never interleaves with a half-finished start.
  const [kafkaOutcome, redisOutcome] = await Promise.allSettled([ensureKafka(config, report), ensureRedis(config, report)]);
  if (kafkaOutcome.status === 'rejected') throw kafkaOutcome.reason;
  if (redisOutcome.status === 'rejected') throw redisOutcome.reason;
  const kafka = kafkaOutcome.value;
  const redis = redisOutcome.value;
  return { kafkaBrokers: kafka.brokers, kafka: kafka.provenance, redisUrl: redis.url, redis: redis.provenance };
}

/** Ensures a Redis server answers, as `stackUp` does, without Kafka: for what needs only Redis (the workflow engine). */
export async function redisUp(config: Config, report: Report = () => undefined): Promise<{ readonly redisUrl: string; readonly redis: Provenance }> {
  mkdirSync(config.stack.dir, { recursive: true });
  const redis = await ensureRedis(config, report);
  return { redisUrl: redis.url, redis: redis.provenance };
}

async function ensureKafka(config: Config, report: Report): Promise<{ brokers: string[]; provenance: Provenance }> {
  const { brokers, brokersFrom } = config.kafka;
  if (brokersFrom === 'env' || brokersFrom === 'file') {
    const probe = await probeKafka(config.kafka, 10_000);
    if (probe.answers) return { brokers, provenance: 'external' };
    if (probe.refusal) throw probe.refusal;
    throw new BraidError(ErrorCode.KAFKA_UNREACHABLE, `Kafka at ${brokers.join(',')} (kafka.brokers, from ${brokersFrom === 'env' ? 'KAFKA_BROKERS' : 'the config file'}) does not answer`, {
      fields: { brokers },
      retriable: false,
      hint: 'start that Kafka, or unset KAFKA_BROKERS / kafka.brokers to let braid start a local one',
    });
  }
  const home = path.join(config.stack.dir, 'kafka');
  const known = readStackState(config.stack.dir).kafka;
  if (known && isOurProcess(known.pid, known.workDir)) {
    const running = [`127.0.0.1:${known.port}`];
    await waitUntil(() => kafkaAnswers(running), known.pid, config.stack.startTimeoutMs, 'Kafka', known.logFile);
    return { brokers: running, provenance: 'reused' };
  }

  const port = await choosePort(config.stack.kafkaPort, 'stack.kafkaPort', 'BRAID_STACK_KAFKA_PORT');
  const controllerPort = await choosePort(config.stack.kafkaControllerPort, 'stack.kafkaControllerPort', 'BRAID_STACK_KAFKA_CONTROLLER_PORT', [port]);
  const jarsDir = await ensureKafkaJars({
    version: config.stack.kafkaVersion,
    cacheDir: config.stack.cacheDir ?? defaultCacheDir(),
    report,
  });
  mkdirSync(home, { recursive: true });
  report(`Starting Kafka ${config.stack.kafkaVersion} (KRaft, single node) on 127.0.0.1:${port}, data in ${home}`);
  const started = startKafkaBroker({ home, jarsDir, port, controllerPort, heapMb: config.stack.kafkaHeapMb });
  updateState(config.stack.dir, (state) => {
    state.kafka = {
      pid: started.pid,
      port,
      controllerPort,
      clusterId: started.clusterId,
      version: config.stack.kafkaVersion,
      workDir: home,
      logFile: started.logFile,
      startedAt: new Date().toISOString(),
    };
  });
  const running = [`127.0.0.1:${port}`];
  await waitUntil(() => kafkaAnswers(running), started.pid, config.stack.startTimeoutMs, 'Kafka', started.logFile);
  report(`Kafka is ready on 127.0.0.1:${port} (pid ${started.pid})`);
  return { brokers: running, provenance: 'started' };
}

async function ensureRedis(config: Config, report: Report): Promise<{ url: string; provenance: Provenance }> {
  const { url, urlFrom } = config.redis;
  if (urlFrom === 'env' || urlFrom === 'file') {
    const probe = await probeRedis(config.redis, 5_000);
    if (probe.answers) return { url, provenance: 'external' };
    if (probe.refusal) throw probe.refusal;
    throw new BraidError(ErrorCode.REDIS_UNREACHABLE, `Redis at ${redactUrl(url)} (redis.url, from ${urlFrom === 'env' ? 'REDIS_URL' : 'the config file'}) does not answer`, {
      fields: { url: redactUrl(url) },
      retriable: false,
      hint: 'start that Redis, or unset REDIS_URL / redis.url to let braid start a local one',
    });
  }
  const known = readStackState(config.stack.dir).redis;
  if (known && isOurProcess(known.pid, known.workDir)) {
    const running = `redis://127.0.0.1:${known.port}`;
    await waitUntil(() => redisAnswers(running), known.pid, config.stack.startTimeoutMs, 'Redis', known.logFile);
    return { url: running, provenance: 'reused' };
  }
  const port = await choosePort(config.stack.redisPort, 'stack.redisPort', 'BRAID_STACK_REDIS_PORT');
  const home = path.join(config.stack.dir, 'redis');
  report(`Starting Redis on 127.0.0.1:${port}, data in ${home}`);
  const started = startRedisServer({ home, port });
  updateState(config.stack.dir, (state) => {
    state.redis = {
      pid: started.pid,
      port,
      workDir: path.join(home, 'data'),
      logFile: started.logFile,
      startedAt: new Date().toISOString(),
    };
  });
  const running = `redis://127.0.0.1:${port}`;
  await waitUntil(() => redisAnswers(running), started.pid, config.stack.startTimeoutMs, 'Redis', started.logFile);
  report(`Redis is ready on 127.0.0.1:${port} (pid ${started.pid})`);
  return { url: running, provenance: 'started' };
}

export interface StackDownResult {
  readonly stopped: string[];
  readonly leftAlone: string[];
}

/**
 * Stops exactly the processes `stackUp` started (and nothing that merely
 * reuses their pids); `only` limits it to some of them.
 */
export async function stackDown(
  config: Config,
  report: Report = () => undefined,
  only: ReadonlyArray<'kafka' | 'redis'> = ['kafka', 'redis'],
): Promise<StackDownResult> {
  const state = readStackState(config.stack.dir);
  const stopped: string[] = [];
  const leftAlone: string[] = [];
  const components = [
    { name: 'kafka', entry: state.kafka, graceMs: 45_000 },
    { name: 'redis', entry: state.redis, graceMs: 15_000 },
  ] as const;
  await Promise.all(
    components.filter(({ name }) => only.includes(name)).map(async ({ name, entry, graceMs }) => {
      if (!entry) return;
      if (isOurProcess(entry.pid, entry.workDir)) {
        report(`Stopping ${name} (pid ${entry.pid})…`);
        const outcome = await stopProcess(entry.pid, graceMs);
        report(`${name} ${outcome === 'killed' ? 'did not stop in time and was killed' : 'stopped'}`);
        stopped.push(name);
      } else if (isAlive(entry.pid)) {
        report(`${name}: pid ${entry.pid} is no longer braid's process; left alone`);
        leftAlone.push(name);
      }
      updateState(config.stack.dir, (current) => {
        delete current[name];
      });
    }),
  );
  if (stopped.length === 0 && leftAlone.length === 0) report('Nothing of braid\'s local stack was running.');
  return { stopped, leftAlone };
}

export interface ComponentStatus {
  readonly name: 'kafka' | 'redis';
  readonly state: 'running' | 'stopped' | 'external' | 'unreachable';
  readonly address: string;
  readonly pid?: number;
  readonly detail: string;
}

/** What runs where: the local stack's processes, or the configured external services. */
export async function stackStatus(config: Config): Promise<ComponentStatus[]> {
  const state = readStackState(config.stack.dir);
  const kafka = async (): Promise<ComponentStatus> => {
    const address = config.kafka.brokers.join(',');
    if (config.kafka.brokersFrom === 'env' || config.kafka.brokersFrom === 'file') {
      const probe = await probeKafka(config.kafka);
      return { name: 'kafka', state: probe.answers ? 'external' : 'unreachable', address, detail: configuredDetail(config.kafka.brokersFrom, probe.refusal) };
    }
    const entry = state.kafka;
    if (!entry || !isOurProcess(entry.pid, entry.workDir)) return { name: 'kafka', state: 'stopped', address, detail: 'not running; `npx braid stack up` starts it' };
    const answers = await kafkaAnswers([`127.0.0.1:${entry.port}`]);
    return { name: 'kafka', state: 'running', address: `127.0.0.1:${entry.port}`, pid: entry.pid, detail: `Kafka ${entry.version}${answers ? '' : ' (not answering yet)'}, data ${entry.workDir}` };
  };
  const redis = async (): Promise<ComponentStatus> => {
    const address = config.redis.url;
    if (config.redis.urlFrom === 'env' || config.redis.urlFrom === 'file') {
      const probe = await probeRedis(config.redis);
      return { name: 'redis', state: probe.answers ? 'external' : 'unreachable', address: redactUrl(address), detail: configuredDetail(config.redis.urlFrom, probe.refusal) };
    }
    const entry = state.redis;
    if (!entry || !isOurProcess(entry.pid, entry.workDir)) return { name: 'redis', state: 'stopped', address, detail: 'not running; `npx braid stack up` starts it' };
    const answers = await redisAnswers(`redis://127.0.0.1:${entry.port}`);
    return { name: 'redis', state: 'running', address: `redis://127.0.0.1:${entry.port}`, pid: entry.pid, detail: `data ${entry.workDir}${answers ? '' : ' (not answering)'}` };
  };
  return Promise.all([kafka(), redis()]);
}

function configuredDetail(from: string, refusal: BraidError | undefined): string {
  return `configured (${from})${refusal ? `: ${refusal.message}` : ''}`;
}

async function choosePort(configured: number, key: string, envName: string, taken: number[] = []): Promise<number> {
  if (configured === 0) {
    for (;;) {
      const port = await pickFreePort();
      if (!taken.includes(port)) return port;
    }
  }
  if (!(await isPortFree(configured))) {
    throw new BraidError(ErrorCode.PORT_IN_USE, `port ${configured} (${key}) is in use by another process`, {
      fields: { port: configured, key },
      hint: `set ${key} (${envName}) to a free port, or 0 for any free port`,
    });
  }
  return configured;
}

async function waitUntil(answers: () => Promise<boolean>, pid: number, timeoutMs: number, what: string, logFile: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await answers()) return;
    if (!isAlive(pid)) {
      throw new BraidError(ErrorCode.STACK_START_FAILED, `${what} (pid ${pid}) exited before it answered`, {
        fields: { pid, logFile },
        hint: `last lines of ${logFile}:\n${what === 'Kafka' ? kafkaLogTail(path.dirname(logFile)) : tailFile(logFile)}`,
      });
    }
    await sleep(300);
  }
  throw new BraidError(ErrorCode.STACK_START_FAILED, `${what} (pid ${pid}) did not answer within ${Math.round(timeoutMs / 1000)} s`, {
    fields: { pid, logFile },
    hint: `see ${logFile}, or raise stack.startTimeoutMs`,
  });
}

function updateState(stackDir: string, change: (state: StackState) => void): void {
  const state = readStackState(stackDir);
  change(state);
  const file = stackStateFile(stackDir);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(temporary, file);
}
