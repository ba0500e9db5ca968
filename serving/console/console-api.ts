import { Hono, type Context } from 'hono';
import type { Redis } from 'ioredis';
import type { Admin, Kafka } from 'kafkajs';
import { archiveGroup, currentVersion, listVersions } from '../../batch/index.ts';
import { sourceSettings, type Config } from '../../shared/config/index.ts';
import { SpeedKeys, type RecentDeadLetter } from '../../shared/speed-contract/index.ts';
import type { View } from '../../shared/views/index.ts';
import type { Principal } from '../auth/authenticator.ts';
import type { ViewReader } from '../view-reader.ts';
import type { ViewService } from '../view-service.ts';
import { withTimeout } from '../with-timeout.ts';

type Env = { Variables: { principal: Principal } };

export interface ConsoleApiOptions {
  readonly config: Config;
  readonly service: ViewService;
  readonly reader: ViewReader;
  readonly redis: Redis;
  /** Without it, sources are listed without offsets, lag or rates. */
  readonly kafka?: Kafka;
}

/** How long Kafka may take to answer a source's offsets before the page shows it as unavailable. */
const KAFKA_TIMEOUT_MS = 3_000;
/** The span over which a source's events per second are measured (from its topic's offsets, sampled per request). */
const RATE_SPAN_MS = 60_000;

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/**
 * What the console shows beyond the views' answers, as JSON behind the app's authentication: a view's freshness
 * (`/v1/views/:view/status`), its published batch versions (`/v1/views/:view/versions`) and the sources of the
 * views a caller may read, with offsets, consumer lag, rates and recent dead letters (`/v1/sources`).
 */
export class ConsoleApi {
  private admin: Promise<Admin> | undefined;
  /** Per topic: its total end offset at the times it was read, oldest first, within {@link RATE_SPAN_MS}. */
  private readonly samples = new Map<string, Array<{ atMs: number; total: number }>>();
  private readonly keys: SpeedKeys;

  constructor(private readonly options: ConsoleApiOptions) {
    this.keys = new SpeedKeys(options.config.redis.keyPrefix);
  }

  routes(): Hono<Env> {
    const routes = new Hono<Env>();
    const { service } = this.options;
    /** The view of the path, if the caller may read it (NOT_FOUND or FORBIDDEN otherwise). */
    const readableView = (c: Context<Env>) => {
      const context = { principal: c.get('principal') };
      const view = service.view(c.req.param('view')!, context);
      service.assertCanRead(view, context);
      return view;
    };
    routes.get('/views/:view/status', async (c) => c.json(await this.viewStatus(readableView(c))));
    routes.get('/views/:view/versions', (c) => {
      const view = readableView(c);
      const versions = listVersions(this.options.config.dataDir, view.name).map((manifest) => ({
        version: manifest.version,
        cutoff: iso(manifest.cutoffMs),
        createdAt: manifest.createdAt,
        durationMs: manifest.durationMs,
        rowCount: manifest.rowCount,
        mode: manifest.mode,
      }));
      return c.json({ view: view.name, current: currentVersion(this.options.config.dataDir, view.name), versions: versions.reverse() });
    });
    routes.get('/sources', async (c) => {
      const views = service.readable({ principal: c.get('principal') });
      const bySource = new Map<string, View[]>();
      for (const view of views) bySource.set(view.source.name, [...(bySource.get(view.source.name) ?? []), view]);
      return c.json({ sources: await Promise.all([...bySource.values()].map((ofSource) => this.sourceStatus(ofSource))) });
    });
    return routes;
  }

  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    if (admin) await admin.then((connected) => connected.disconnect()).catch(() => undefined);
  }

  /** A view's batch version and cutoff, the speed layer's watermark, and why answers over the last hour may be partial. */
  private async viewStatus(view: View): Promise<Record<string, unknown>> {
    const nowMs = Date.now();
    const { manifest, progress } = await this.options.reader.freshness(view);
    const reasons: string[] = [];
    if (!manifest) reasons.push('no batch version is published yet: windows older than the speed layer keeps are missing');
    if (progress.watermarkMs === null) reasons.push('the speed layer has not flushed this view yet');
    const partitions = sourceSettings(this.options.config, view.source.name).partitions;
    const flushed = progress.slowest?.partitions ?? 0;
    if (progress.watermarkMs !== null && flushed < partitions) reasons.push(`${flushed} of the source's ${partitions} partitions have flushed`);
    const lagMs = progress.watermarkMs === null ? null : nowMs - progress.watermarkMs;
    return {
      view: view.name,
      source: view.source.name,
      batch: manifest
        ? { version: manifest.version, cutoff: iso(manifest.cutoffMs), cutoffAgeMs: nowMs - manifest.cutoffMs, createdAt: manifest.createdAt, rowCount: manifest.rowCount }
        : null,
      speed: progress.watermarkMs === null ? null : { watermark: iso(progress.watermarkMs), watermarkLagMs: lagMs, partitionsFlushed: flushed, partitions },
      partial: reasons.length > 0,
      reasons,
    };
  }

  private kafkaAdmin(kafka: Kafka): Promise<Admin> {
    if (!this.admin) {
      const admin = kafka.admin();
      this.admin = admin.connect().then(() => admin);
      // A failed connection is tried again by the next request.
      this.admin.catch(() => {
        this.admin = undefined;
      });
    }
    return this.admin;
  }

  private async sourceStatus(views: readonly View[]): Promise<Record<string, unknown>> {
    const { config, kafka, redis } = this.options;
    const source = views[0]!.source;
    const topic = sourceSettings(config, source.name).topic ?? source.topic;
    const recent = (await redis.lrange(this.keys.recentDeadLetters(topic), 0, 19)).map((entry) => JSON.parse(entry) as RecentDeadLetter);
    const base = {
      name: source.name,
      topic,
      views: views.map((view) => view.name),
      recentDeadLetters: recent.map((entry) => ({ ...entry, at: iso(entry.atMs) })),
    };
    if (!kafka) return { ...base, kafka: { available: false, error: 'this server has no Kafka client' } };
    try {
      return { ...base, ...(await withTimeout(this.offsets(kafka, topic, views), KAFKA_TIMEOUT_MS)), kafka: { available: true } };
    } catch (thrown) {
      return { ...base, kafka: { available: false, error: (thrown as Error).message } };
    }
  }

  /** A topic's partitions with their end offsets and each group's lag; its events per second; its dead-letter and late counts. */
  private async offsets(kafka: Kafka, topic: string, views: readonly View[]): Promise<Record<string, unknown>> {
    const admin = await this.kafkaAdmin(kafka);
    const speedGroups = [...new Set((await Promise.all(views.map((view) => this.options.redis.get(this.keys.viewGroup(view.name))))).filter((group): group is string => group !== null))];
    const groups = [...speedGroups.map((group) => ({ kind: 'speed', group })), { kind: 'archive', group: archiveGroup(this.options.config, views[0]!.source.name) }];
    // A topic that does not exist yet (no dead letter so far) is asked nothing: Kafka would answer with an error.
    const existing = new Set(await admin.listTopics());
    const [ends, committed, deadLettered, late] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      Promise.all(groups.map(({ group }) => admin.fetchOffsets({ groupId: group, topics: [topic] }))),
      existing.has(`${topic}.dlq`) ? this.messagesIn(admin, `${topic}.dlq`) : null,
      existing.has(`${topic}.late`) ? this.messagesIn(admin, `${topic}.late`) : null,
    ]);
    const partitions = ends
      .map((end) => ({
        partition: end.partition,
        endOffset: Number(end.high),
        lag: Object.fromEntries(
          groups.map(({ kind, group }, index) => {
            const offset = committed[index]![0]?.partitions.find((entry) => entry.partition === end.partition)?.offset;
            // -1: the group has committed nothing there yet.
            const lag = offset === undefined || Number(offset) < 0 ? null : Math.max(0, Number(end.high) - Number(offset));
            return [kind === 'speed' ? `speed:${group}` : 'archive', lag];
          }),
        ),
      }))
      .sort((a, b) => a.partition - b.partition);
    const total = partitions.reduce((sum, partition) => sum + partition.endOffset, 0);
    return { partitions, groups, eventsPerSecond: this.rate(topic, total), deadLettered, late };
  }

  /** The messages a topic holds now (end minus start offsets), or null when Kafka cannot say. */
  private async messagesIn(admin: Admin, topic: string): Promise<number | null> {
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.reduce((sum, offset) => sum + Number(offset.high) - Number(offset.low), 0);
    } catch {
      return null;
    }
  }

  /** Events per second into a topic, from its end offsets now and the oldest sample within {@link RATE_SPAN_MS}. */
  private rate(topic: string, total: number): number | null {
    const nowMs = Date.now();
    const kept = (this.samples.get(topic) ?? []).filter((sample) => nowMs - sample.atMs <= RATE_SPAN_MS);
    kept.push({ atMs: nowMs, total });
    this.samples.set(topic, kept.slice(-120));
    const oldest = kept[0]!;
    const seconds = (nowMs - oldest.atMs) / 1000;
    return seconds < 1 ? null : Math.round(((total - oldest.total) / seconds) * 10) / 10;
  }
}
