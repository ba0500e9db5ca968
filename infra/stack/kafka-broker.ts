import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { requireTool, spawnDetached, tailFile } from './processes.ts';

export interface KafkaBrokerPlan {
  /** Folder of the broker: config, logs, data. */
  readonly home: string;
  readonly jarsDir: string;
  readonly port: number;
  readonly controllerPort: number;
  readonly heapMb: number;
  /** How clients connect; plaintext without authentication when absent (the local stack). */
  readonly security?: KafkaBrokerSecurity;
}

/**
 * The client listener's security: TLS with `keystorePem`, SASL/SCRAM with `scramUsers`, both for SASL_SSL. Meant
 * for a broker that shows Braid's TLS and SCRAM settings working against a real Kafka, not for the local stack.
 */
export interface KafkaBrokerSecurity {
  /** A PEM file holding the broker's private key (PKCS#8, unencrypted) and certificate chain. */
  readonly keystorePem?: string;
  /** A PEM file of the CA that signed it: the broker checks its own certificate against it at start. */
  readonly truststorePem?: string;
  /** SCRAM users stored in the cluster metadata when the storage is formatted (names and passwords of letters, digits, `-` and `_`). */
  readonly scramUsers?: ReadonlyArray<{ readonly mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; readonly username: string; readonly password: string }>;
}

export interface StartedBroker {
  readonly pid: number;
  readonly clusterId: string;
  readonly logFile: string;
}

const JAVA_HINT = 'install Java 17+ (Debian: apt-get install openjdk-17-jre-headless), or set KAFKA_BROKERS to use a Kafka you run yourself';

/**
 * Writes a single-node KRaft configuration (combined broker and controller on
 * 127.0.0.1), formats the storage with Kafka's own StorageTool if it is new,
 * and starts the broker with `java`, detached. Readiness is the caller's to wait for.
 */
export function startKafkaBroker(plan: KafkaBrokerPlan): StartedBroker {
  requireTool('java', ['-version'], JAVA_HINT);
  const dataDir = path.join(plan.home, 'data');
  mkdirSync(dataDir, { recursive: true });
  const propertiesFile = path.join(plan.home, 'server.properties');
  const log4jFile = path.join(plan.home, 'log4j.properties');
  const logFile = path.join(plan.home, 'kafka.log');
  writeFileSync(propertiesFile, serverProperties(plan, dataDir));
  writeFileSync(log4jFile, LOG4J_PROPERTIES);

  const classpath = `${plan.jarsDir}/*`;
  const log4j = `-Dlog4j.configuration=file:${log4jFile}`;
  const clusterId = existingClusterId(dataDir) ?? newClusterId();
  const scram = (plan.security?.scramUsers ?? []).flatMap(({ mechanism, username, password }) => [
    '--add-scram',
    `${mechanism}=[name=${username},password=${password}]`,
  ]);
  const format = spawnSync(
    'java',
    [log4j, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', propertiesFile, '--ignore-formatted', ...scram],
    { cwd: plan.home, encoding: 'utf8' },
  );
  if (format.status !== 0) {
    throw new BraidError(ErrorCode.STACK_START_FAILED, `Kafka's storage tool could not format ${dataDir}`, {
      fields: { dataDir },
      hint: `${format.stderr || format.stdout}`.trim().split('\n').slice(-10).join('\n'),
    });
  }

  const pid = spawnDetached(
    'java',
    [
      `-Xms${Math.min(256, plan.heapMb)}m`,
      `-Xmx${plan.heapMb}m`,
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-XX:+ExitOnOutOfMemoryError',
      '-Djava.awt.headless=true',
      log4j,
      '-cp',
      classpath,
      'kafka.Kafka',
      propertiesFile,
    ],
    { cwd: plan.home, logFile },
  );
  return { pid, clusterId: existingClusterId(dataDir) ?? clusterId, logFile };
}

export function kafkaLogTail(home: string): string {
  return tailFile(path.join(home, 'kafka.log'));
}

/** Kafka's Uuid form: 16 random bytes, URL-safe base64, never starting with '-'. */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function existingClusterId(dataDir: string): string | undefined {
  const meta = path.join(dataDir, 'meta.properties');
  if (!existsSync(meta)) return undefined;
  return /^cluster\.id=(.+)$/m.exec(readFileSync(meta, 'utf8'))?.[1]?.trim();
}

function serverProperties(plan: KafkaBrokerPlan, dataDir: string): string {
  const listener = clientListener(plan.security);
  return `# Written by \`braid stack up\`: a single-node Kafka (KRaft, broker + controller) for local work.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${plan.controllerPort}
listeners=${listener.name}://127.0.0.1:${plan.port},CONTROLLER://127.0.0.1:${plan.controllerPort}
advertised.listeners=${listener.name}://127.0.0.1:${plan.port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=${listener.name}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,${listener.name}:${listener.name}
${listener.properties}log.dirs=${dataDir}
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
# Fewer internal partitions than the default 50: the first consumer group on a fresh box joins in about a second.
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
# Sized for a 2-core box.
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.hours=168
`;
}

/** The client listener (named after its security protocol) and the properties that protocol needs. */
function clientListener(security: KafkaBrokerSecurity | undefined): { name: string; properties: string } {
  const tls = security?.keystorePem !== undefined;
  const mechanisms = [...new Set((security?.scramUsers ?? []).map((user) => user.mechanism))];
  const name = mechanisms.length > 0 ? (tls ? 'SASL_SSL' : 'SASL_PLAINTEXT') : tls ? 'SSL' : 'PLAINTEXT';
  const lines: string[] = [];
  if (tls) {
    lines.push('ssl.keystore.type=PEM', `ssl.keystore.location=${security!.keystorePem}`);
    if (security!.truststorePem !== undefined) lines.push('ssl.truststore.type=PEM', `ssl.truststore.location=${security!.truststorePem}`);
  }
  if (mechanisms.length > 0) {
    // One broker never connects to itself, so the inter-broker login needs no credentials.
    lines.push(`sasl.enabled.mechanisms=${mechanisms.join(',')}`, `sasl.mechanism.inter.broker.protocol=${mechanisms[0]}`);
    for (const mechanism of mechanisms) {
      lines.push(`listener.name.${name.toLowerCase()}.${mechanism.toLowerCase()}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`);
    }
  }
  return { name, properties: lines.map((line) => `${line}\n`).join('') };
}

const LOG4J_PROPERTIES = `# Written by \`braid stack up\`: warnings and errors only, to stdout (which the stack sends to kafka.log).
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=WARN
log4j.logger.org.apache.kafka=WARN
`;
