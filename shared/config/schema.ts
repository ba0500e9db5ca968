import { createPrivateKey, X509Certificate } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { parseDurationMs } from '../time/index.ts';
import { LOG_FORMATS } from '../logging/index.ts';

/**
 * Braid's configuration schema. Defaults live here and nowhere else; every
 * object is strict, so a misspelt key is an error rather than a silent default.
 */

const hostPort = z
  .string()
  .regex(/^[^\s:/]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9092');

const port = z.number().int().min(0).max(65535);

/** A duration: a number of milliseconds or text such as "500ms", "5s", "1m". */
const durationMs = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const parsed = parseDurationMs(value);
  if (parsed === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a duration such as "500ms", "5s", "1m" or a number of milliseconds, got ${JSON.stringify(value)}`,
    });
    return z.NEVER;
  }
  return parsed;
});

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** One or more PEM certificates, each of which parses (`file:<path>` references are read before this checks them). */
const pemCertificates = z.string().superRefine((text, ctx) => {
  const blocks = text.match(PEM_CERTIFICATE);
  if (blocks === null) {
    ctx.addIssue({ code: 'custom', message: 'expected PEM certificates (-----BEGIN CERTIFICATE-----…), or file:<path> to read them from a file, e.g. file:/etc/braid/ca.pem' });
    return;
  }
  blocks.forEach((block, index) => {
    try {
      new X509Certificate(block);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `certificate ${index + 1} of ${blocks.length} does not parse: ${(error as Error).message}` });
    }
  });
});

/** An unencrypted PEM private key that parses. */
const pemPrivateKey = z.string().superRefine((text, ctx) => {
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) {
    ctx.addIssue({ code: 'custom', message: 'the private key is encrypted; Braid takes an unencrypted PEM key (keep its file readable by Braid only)' });
    return;
  }
  try {
    createPrivateKey(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected a PEM private key (-----BEGIN PRIVATE KEY-----…), or file:<path> to read it from a file, e.g. file:/etc/braid/client.key' });
  }
});

/**
 * TLS settings of a client connection (Kafka's `kafka.ssl`, Redis's `redis.tls`), as Node's `tls.connect` takes
 * them. Each PEM value is the text itself or a `file:`/`env:` reference.
 */
export const TlsSettingsSchema = z
  .strictObject(
    {
      /** CA certificates trusted for the server's certificate, instead of Node's built-in list. */
      ca: pemCertificates.optional(),
      /** Client certificate (chain), for servers that ask for one; goes with `key`. */
      cert: pemCertificates.optional(),
      /** Private key of `cert`. A secret. */
      key: pemPrivateKey.optional(),
      /** Refuse a server whose certificate does not verify. Off only for tests: it lets anyone in the middle read everything. */
      rejectUnauthorized: z.boolean().default(true),
      /** Name the server's certificate must carry, when it differs from the host connected to. */
      servername: z.string().min(1).optional(),
    },
    { error: 'expected a mapping of ca, cert, key, rejectUnauthorized, servername' },
  )
  .superRefine((tls, ctx) => {
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      ctx.addIssue({ code: 'custom', path: [tls.cert === undefined ? 'cert' : 'key'], message: 'cert and key go together: a client certificate and its private key' });
      return;
    }
    const first = tls.cert?.match(PEM_CERTIFICATE)?.[0];
    if (first === undefined || tls.key === undefined) return;
    let matches: boolean;
    try {
      matches = new X509Certificate(first).checkPrivateKey(createPrivateKey(tls.key));
    } catch {
      return; // cert or key does not parse: reported on its own key
    }
    if (!matches) ctx.addIssue({ code: 'custom', path: ['key'], message: 'this private key does not belong to the certificate in cert' });
  });

/** `true` (TLS with Node's defaults), `false` or absent (none), or TLS settings. */
const tlsSettings = z.preprocess((value) => (value === true ? {} : value === false ? undefined : value), TlsSettingsSchema.optional());

export const SASL_MECHANISMS = ['scram-sha-256', 'scram-sha-512', 'plain'] as const;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** How Braid handles one source's topic: its settings, with defaults. */
export const SourceSettingsSchema = z.strictObject({
  /** Kafka topic of the source. Default: the topic the source declares. */
  topic: z.string().min(1).optional(),
  /** Partitions Braid creates the topic with when it does not exist. */
  partitions: z.number().int().min(1).max(1024).default(4),
  /** Bounded out-of-orderness: a partition's watermark is max event time minus this. */
  maxOutOfOrdernessMs: durationMs.default(5_000),
  /** A partition with no events for this long stops holding the watermark back. */
  idleTimeoutMs: durationMs.default(30_000),
});

/**
 * An entry of `sources:`: settings for a source defined anywhere, and, with `fields`, the declaration of a
 * source in the config file itself (for teams that do not write TypeScript). The declaration is checked by the
 * same validator as `defineSource` (shared/sources), so here it is only carried.
 */
export const SourceEntrySchema = SourceSettingsSchema.extend({
  description: z.string().optional(),
  fields: z.record(z.string(), z.unknown()).optional(),
  timeField: z.string().optional(),
  keyFields: z.array(z.string()).optional(),
});

export const ConfigSchema = z.strictObject({
  kafka: z
    .strictObject({
      /** Brokers. Default: the local stack's broker (`braid stack up`). */
      brokers: z.array(hostPort).min(1, 'at least one broker').optional(),
      clientId: z.string().min(1).default('braid'),
      /** TLS to the brokers: `true` (Node's CAs) or TLS settings. Default: plaintext. */
      ssl: tlsSettings,
      /** SASL authentication (SCRAM or PLAIN). Default: none. */
      sasl: z
        .strictObject(
          {
            mechanism: z.preprocess(
              (value) => (typeof value === 'string' ? value.toLowerCase() : value),
              z.enum(SASL_MECHANISMS, { error: `expected one of ${SASL_MECHANISMS.join(', ')}` }),
            ),
            username: z.string().min(1),
            /** A secret. */
            password: z.string().min(1),
          },
          { error: 'expected a mapping of mechanism, username, password' },
        )
        .optional(),
    })
    .superRefine((kafka, ctx) => {
      if (kafka.brokers !== undefined) return;
      for (const key of ['ssl', 'sasl'] as const) {
        if (kafka[key] === undefined) continue;
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: 'set kafka.brokers too: the local stack\'s broker (`npx braid stack up`) speaks plaintext without authentication',
        });
      }
    })
    .prefault({}),
  redis: z
    .strictObject({
      /** Default: the local stack's Redis (`braid stack up`). */
      url: z
        .string()
        .regex(/^rediss?:\/\/[^\s]+$/, 'expected a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379')
        .optional(),
      /** Prefix of every key Braid writes, so several deployments can share a Redis. */
      keyPrefix: z.string().default('braid:'),
      /** ACL user (Redis 6+), instead of one in `url`. */
      username: z.string().min(1).optional(),
      /** Password, instead of one in `url`. A secret. */
      password: z.string().min(1).optional(),
      /** TLS settings of a `rediss://` URL (which alone means TLS with Node's CAs); `true` is the same as none. */
      tls: tlsSettings,
    })
    .superRefine((redis, ctx) => {
      const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
      const local = 'the local stack\'s Redis (`npx braid stack up`) speaks plaintext without a password';
      if (redis.url === undefined) {
        for (const key of ['tls', 'username', 'password'] as const) {
          if (redis[key] !== undefined) issue(key, `set redis.url too: ${local}`);
        }
        return;
      }
      const inUrl = urlCredentials(redis.url);
      if (redis.tls !== undefined && !redis.url.startsWith('rediss://')) issue('tls', 'TLS needs a rediss:// URL in redis.url (redis:// is plaintext)');
      if (redis.password !== undefined && inUrl.password) issue('password', 'redis.url holds a password too: keep one of them');
      if (redis.username !== undefined && inUrl.username) issue('username', 'redis.url names a user too: keep one of them');
      if (redis.username !== undefined && redis.password === undefined && !inUrl.password) issue('username', 'a user needs a password (redis.password)');
    })
    .prefault({}),
  /** Root of the Parquet master dataset and batch views. */
  dataDir: z.string().min(1).default('./data'),
  stack: z
    .strictObject({
      /** Where `braid stack up` keeps the local Kafka and Redis data, logs and pid files. */
      dir: z.string().min(1).default('.braid'),
      /** Port of the local Kafka broker; 0 picks a free port. */
      kafkaPort: port.default(19092),
      /** Port of the local Kafka controller (KRaft); 0 picks a free port. */
      kafkaControllerPort: port.default(19093),
      /** Port of the local Redis; 0 picks a free port. */
      redisPort: port.default(16379),
      kafkaVersion: z
        .string()
        .regex(/^3\.9\.\d+$/, 'expected a Kafka 3.9.x version such as 3.9.1 (kafkajs is known to work with 3.x only)')
        .default('3.9.1'),
      /** Maximum heap of the local broker, MiB. */
      kafkaHeapMb: z.number().int().min(128).max(16_384).default(512),
      /** Cache of the broker's jars. Default: $XDG_CACHE_HOME/braid or ~/.cache/braid. */
      cacheDir: z.string().min(1).optional(),
      /** How long `stack up` waits for Kafka and Redis to answer. */
      startTimeoutMs: durationMs.default(120_000),
    })
    .prefault({}),
  serving: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      /** Port of `braid serve`; 0 picks a free port (printed at start). */
      port: port.default(8080),
      /** Development mode: GraphiQL on /graphql and, unless auth.anonymous says otherwise, anonymous read access. `braid dev` turns it on. */
      development: z.boolean().default(false),
      /**
       * The server stands behind a proxy that sets X-Forwarded-For: the first address of that header is the client's
       * (anonymous callers are rate-limited by it). Off: the address of the connection, whatever the header says.
       */
      trustProxy: z.boolean().default(false),
      /**
       * GraphQL introspection (`__schema`, `__type`): `readable` answers it with the views the caller may read only;
       * `off` refuses it (FORBIDDEN), for production servers whose clients know the schema.
       */
      introspection: z.enum(['readable', 'off']).default('readable'),
      cors: z
        .strictObject({
          /**
           * Origins browsers may call from (`https://dashboards.example.com`), with credentials; `['*']` lets any
           * origin call, without credentials. Empty: no CORS headers (browsers allow same-origin calls only).
           */
          origins: z
            .array(z.string().regex(/^(\*|https?:\/\/[^\s/]+)$/, 'expected an origin such as https://dashboards.example.com (scheme and host, no path), or *'))
            .refine((origins) => !origins.includes('*') || origins.length === 1, '* stands alone (any origin), or list the origins')
            .default([]),
        })
        .prefault({}),
      auth: z
        .strictObject({
          /** Requests without credentials may read every view. Default: on in development mode only. */
          anonymous: z.boolean().optional(),
          /** API keys, stored as the SHA-256 hex of the key (`npx braid apikey create` makes one); more may live in Redis. */
          apiKeys: z
            .array(
              z.strictObject({
                name: z.string().min(1),
                sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected the SHA-256 of the key as 64 lower-case hex digits'),
                roles: z.array(z.string().min(1)).min(1, 'at least one role'),
              }),
            )
            .default([]),
          /** Secret of HS256 JWTs (claims: `sub`, `roles` (an array of strings), `exp` (required), `nbf`). Unset: JWTs are refused. */
          jwtSecret: z.string().min(32, 'use at least 32 characters for an HS256 secret').optional(),
          /** Role → the views it may read (`*` = all). */
          roles: z.record(z.string(), z.array(z.string().min(1))).default({ admin: ['*'] }),
        })
        .prefault({}),
      limits: z
        .strictObject({
          /** Widest time range one request may ask of a view (a view's own entry in `maxRangeByView` wins). */
          maxRangeMs: durationMs.default(31 * 24 * 3_600_000),
          maxRangeByView: z.record(z.string(), durationMs).default({}),
          /** Rows a request may return (`limit` defaults to this). */
          maxRows: z.number().int().min(1).default(10_000),
          requestTimeoutMs: durationMs.default(10_000),
          /** GraphQL depth, cost and alias limits (graphql-armor). */
          maxDepth: z.number().int().min(1).default(8),
          maxCost: z.number().int().min(1).default(5_000),
          maxAliases: z.number().int().min(0).default(10),
          /** Requests per second per API key / JWT subject / anonymous client address; 0 turns the limit off. */
          requestsPerSecond: z.number().int().min(0).default(200),
          /** Failed authentications per second per client address (per server) before further failing attempts get RATE_LIMITED; 0 turns the limit off. */
          failedAuthPerSecond: z.number().int().min(0).default(10),
          /** Cells (window × group rows read from the layers) one request may read. */
          maxCellsPerRequest: z.number().int().min(1).default(2_000_000),
          /** Cells per second per caller, counted in Redis; 0 turns the budget off. */
          cellsPerSecond: z.number().int().min(0).default(5_000_000),
          /** Reads doing work (not answered from the cache) at once, per caller and in all (per server). */
          maxConcurrentReadsPerCaller: z.number().int().min(1).default(4),
          maxConcurrentReads: z.number().int().min(1).default(16),
          /** Open GraphQL subscriptions per caller (per server). */
          maxSubscriptionsPerCaller: z.number().int().min(1).default(20),
          /** Bytes a request body may have (GraphQL and REST); a larger one is refused with 413 before it is read further. */
          maxBodyBytes: z.number().int().min(1).default(1_048_576),
        })
        .prefault({}),
      /** Responses cached (keyed by query, batch version and speed progress, so never stale). 0 turns the cache off. */
      cacheEntries: z.number().int().min(0).default(5_000),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      /** Interface of each process's /metrics endpoint. Use 0.0.0.0 in containers. */
      host: z.string().min(1).default('127.0.0.1'),
      /** Port of each process's /metrics endpoint; 0 picks a free port (logged at start). */
      port: port.default(0),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(LOG_LEVELS).default('info'),
      /** `json` (one object per line), `pretty` (human lines) or `auto`: pretty when stderr is a terminal, else JSON. */
      format: z.enum(LOG_FORMATS).default('auto'),
    })
    .prefault({}),
  speed: z
    .strictObject({
      /** How often pending window deltas are written to Redis (and live results move). */
      flushIntervalMs: durationMs.default(500),
      /** Once every partition is read to its end, pending deltas are flushed as soon as this long has passed since the previous flush started, not at the next tick. */
      minFlushIntervalMs: durationMs.default(100),
      /** Pending window × key cells (each pane cell counted as the windows it goes to), changed sessions, dead letters and late events that force a flush and pause fetching until it is done (bounded memory). */
      maxPendingCells: z.number().int().min(100).default(50_000),
      /** Retries of a failed Redis flush before the worker gives up (it then exits non-zero; a restart replays). */
      flushRetries: z.number().int().min(0).max(20).default(5),
      /** Consumer-group session timeout: how soon the group notices a dead worker and hands its partitions on. */
      sessionTimeoutMs: durationMs.default(30_000),
      /**
       * Worker threads per source that decode and run the views, sharing the worker's partitions (more use more
       * cores). Two by default (one on a single core): on the 2-core benchmark box a second thread leaves a
       * core idle about 4 % of the time instead of 12 % (one thread was the bottleneck), for more throughput.
       */
      pipelineThreads: z
        .number()
        .int()
        .min(1)
        .max(32)
        .default(() => Math.min(2, availableParallelism())),
      /**
       * Synthetic events (built from the source's field specs) each pipeline thread runs through its views at start,
       * before the worker joins the consumer group, so its code is compiled before the first real batch. 0 = none.
       */
      warmUpEvents: z.number().int().min(0).max(10_000_000).default(100_000),
    })
    .prefault({}),
  archive: z
    .strictObject({
      /** A partition's buffer is written as soon as it holds this many events (files roll by size)… */
      maxRowsPerFile: z.number().int().min(1).default(200_000),
      /** …or after this long (files roll by time, so a quiet topic still gets archived). */
      flushIntervalMs: durationMs.default(30_000),
    })
    .prefault({}),
  batch: z
    .strictObject({
      /** Published versions kept per view (the current one is never removed). */
      keepVersions: z.number().int().min(1).max(1000).default(5),
    })
    .prefault({}),
  views: z
    .strictObject({
      /** Folder of view definitions (.ts/.js modules exporting defineView(...) results). */
      dir: z.string().min(1).default('./views'),
      /** Also serve the built-in demo views on the clickstream source. */
      includeDemo: z.boolean().default(true),
    })
    .prefault({}),
  workflows: z
    .strictObject({
      /** Folder of workflow modules (.ts/.js exporting defineWorkflow(...) results). Not `./workflows`: that is Braid's own code. */
      dir: z.string().min(1).default('./dags'),
      /** Pools and their slots: how many tasks of a pool run at once across all workers. `default` is bounded by each worker's concurrency only. */
      pools: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/, 'pool names are lower-case letters, digits, _ and -'), z.number().int().min(1).max(10_000)).default({ duckdb: 2 }),
      recompute: z
        .strictObject({
          /** Braid's own `recompute` workflow: wait for data, compact, recompute every view, per source. */
          enabled: z.boolean().default(true),
          /** Its cron (in UTC); each run recomputes the windows of its interval. */
          schedule: z.string().min(1).default('0 * * * *'),
          /** How long a run's sensor waits for the archived data before the run fails. */
          sensorTimeoutMs: durationMs.default(3_600_000),
        })
        .prefault({}),
      /** Runs (and their task logs) are kept this long after their interval starts. */
      retentionMs: durationMs.default(30 * 24 * 3_600_000),
      /** Log lines kept per task attempt. */
      logLines: z.number().int().min(10).max(100_000).default(500),
      /** A worker that stops renewing a task's lock (it died) has the task started again elsewhere after about this long. */
      lockDurationMs: durationMs.default(30_000),
    })
    .prefault({}),
  /**
   * `sources.dir`: the folder of source modules (exporting `defineSource(...)` results); every other key is a
   * source's name: its settings, and with `fields` its declaration.
   */
  sources: z
    .object({
      /** Folder of source definitions (.ts/.js modules exporting defineSource(...) results). */
      dir: z.string().min(1).default('./sources'),
    })
    .catchall(SourceEntrySchema)
    .prefault({}),
});

/** The user and password a URL carries (`redis://user:pw@host`), empty when it has none or does not parse. */
function urlCredentials(text: string): { username: string; password: string } {
  try {
    const url = new URL(text);
    return { username: url.username, password: url.password };
  } catch {
    return { username: '', password: '' };
  }
}

export type TlsSettings = z.output<typeof TlsSettingsSchema>;
export type SaslSettings = NonNullable<z.output<typeof ConfigSchema>['kafka']['sasl']>;
export type RawConfig = z.input<typeof ConfigSchema>;
export type ParsedConfig = z.output<typeof ConfigSchema>;
export type SourceSettings = z.output<typeof SourceSettingsSchema>;
export type SourceEntry = z.output<typeof SourceEntrySchema>;
