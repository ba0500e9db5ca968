import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { ClickstreamEvent } from '../sources/index.ts';
import { WeightedChoice, zipfWeights } from './weighted.ts';

/** What a generated message is meant to be, so tests and reports can count each kind. */
export type MessageKind = 'ok' | 'late' | 'bad';

export interface GeneratedMessage {
  /** Kafka key (the user id), or null for some malformed messages. */
  readonly key: string | null;
  /** The Kafka message value: one JSON object on one line (or, for `bad`, something that is not a valid event). */
  readonly value: string;
  readonly kind: MessageKind;
  /** Event time, for `ok` and `late` messages. */
  readonly eventTimeMs?: number;
}

export interface ClickstreamGeneratorOptions {
  /** Same seed, same options → same messages (event times too when `startMs`/`spanMs` are set). */
  seed: number;
  /** Event times fall out of order by up to this much. Default 0. */
  disorderMs?: number;
  /** Fraction of events whose event time is far behind (`lateByMs` and more). Default 0. */
  lateFraction?: number;
  /** How far behind late events are: between 1× and 2× this. Default 30 minutes. */
  lateByMs?: number;
  /** Fraction of messages that are malformed JSON or fail the schema. Default 0. */
  badFraction?: number;
  /** Distinct users (activity is Zipf-skewed). Default 20,000. */
  users?: number;
  /** Distinct URLs (popularity is Zipf-skewed). Default 5,000. */
  urls?: number;
}

const SESSION_GAP_MS = 30 * 60_000;

const COUNTRIES = new WeightedChoice(
  ['US', 'IN', 'GB', 'DE', 'BR', 'FR', 'JP', 'CA', 'ES', 'IT', 'MX', 'AU', 'NL', 'PL', 'SE', 'KR', 'NG', 'ZA', 'AR', 'IE'],
  [30, 12, 8, 7, 6, 5, 5, 4, 3, 3, 3, 2.5, 2, 2, 1.5, 1.5, 1.5, 1, 1, 1],
);
const DEVICES = new WeightedChoice(['mobile', 'desktop', 'tablet'], [55, 38, 7]);

/** The URL at popularity rank `rank` (0 = hottest). */
function urlAt(rank: number): string {
  const fixed = ['/', '/search', '/cart', '/checkout', '/login', '/deals'];
  if (rank < fixed.length) return fixed[rank]!;
  const index = rank - fixed.length;
  return index % 3 === 2 ? `/category/${Math.floor(index / 3)}` : `/product/${index}`;
}

/**
 * Generates the demo `clickstream`: page views with realistic skew (a few hot
 * URLs and heavy users, a long tail), sessions per user (a new session after
 * 30 minutes of event-time inactivity, or when a session ends by chance),
 * revenue on a small fraction of views (mostly on /checkout), and, on request,
 * disorder, late events and malformed messages.
 *
 * @example
 * const generator = new ClickstreamGenerator({ seed: 1, disorderMs: 5_000, badFraction: 0.001 });
 * const message = generator.next(Date.now()); // { key: 'u00042', value: '{"ts":…}', kind: 'ok', … }
 */
export class ClickstreamGenerator {
  private readonly rng: ReturnType<typeof xoroshiro128plus>;
  private readonly disorderMs: number;
  private readonly lateFraction: number;
  private readonly lateByMs: number;
  private readonly badFraction: number;
  private readonly users: WeightedChoice<number>;
  private readonly urls: WeightedChoice<number>;
  private readonly sessions = new Map<number, { id: number; lastMs: number }>();
  private readonly urlNames: string[];

  constructor(options: ClickstreamGeneratorOptions) {
    this.rng = xoroshiro128plus(options.seed);
    this.disorderMs = options.disorderMs ?? 0;
    this.lateFraction = options.lateFraction ?? 0;
    this.lateByMs = options.lateByMs ?? 30 * 60_000;
    this.badFraction = options.badFraction ?? 0;
    if (this.lateFraction + this.badFraction > 1) throw new RangeError('lateFraction + badFraction must not exceed 1');
    const userCount = options.users ?? 20_000;
    const urlCount = options.urls ?? 5_000;
    this.users = new WeightedChoice(Array.from({ length: userCount }, (_, index) => index), zipfWeights(userCount, 0.9));
    this.urls = new WeightedChoice(Array.from({ length: urlCount }, (_, index) => index), zipfWeights(urlCount, 1.1));
    this.urlNames = Array.from({ length: urlCount }, (_, index) => urlAt(index));
  }

  private unit(): number {
    return uniformFloat64(this.rng);
  }

  /** The next message, with `baseTimeMs` as its nominal event time (before disorder or lateness). */
  next(baseTimeMs: number): GeneratedMessage {
    const roll = this.unit();
    const event = this.event(baseTimeMs);
    const key = event.user_id;
    if (roll < this.badFraction) return { key: this.unit() < 0.2 ? null : key, value: this.corrupt(event), kind: 'bad' };
    if (roll < this.badFraction + this.lateFraction) {
      const late = { ...event, ts: Math.max(0, Math.round(baseTimeMs - this.lateByMs * (1 + this.unit()))) };
      return { key, value: JSON.stringify(late), kind: 'late', eventTimeMs: late.ts };
    }
    return { key, value: JSON.stringify(event), kind: 'ok', eventTimeMs: event.ts };
  }

  private event(baseTimeMs: number): ClickstreamEvent {
    const user = this.users.pick(this.unit());
    const url = this.urlNames[this.urls.pick(this.unit())]!;
    const ts = Math.max(0, Math.round(baseTimeMs - this.disorderMs * this.unit()));
    let session = this.sessions.get(user);
    if (!session || ts - session.lastMs > SESSION_GAP_MS || this.unit() < 0.01) {
      session = { id: (session?.id ?? 0) + 1, lastMs: ts };
      this.sessions.set(user, session);
    }
    session.lastMs = Math.max(session.lastMs, ts);
    const buys = this.unit() < (url === '/checkout' ? 0.6 : 0.01);
    const userId = `u${String(user).padStart(5, '0')}`;
    return {
      ts,
      user_id: userId,
      session_id: `${userId}-s${session.id}`,
      url,
      country: COUNTRIES.pick(this.unit()),
      device: DEVICES.pick(this.unit()),
      revenue: buys ? Math.round((5 + 195 * this.unit() ** 2) * 100) / 100 : null,
    };
  }

  /** One of several realistic ways a producer gets a message wrong. */
  private corrupt(event: ClickstreamEvent): string {
    const json = JSON.stringify(event);
    switch (Math.floor(this.unit() * 6)) {
      case 0:
        return json.slice(0, Math.max(1, Math.floor(json.length * this.unit()))); // truncated
      case 1:
        return `not json: ${event.url}`;
      case 2:
        return JSON.stringify({ ...event, ts: 'yesterday' }); // unparseable time
      case 3: {
        const { user_id: _dropped, ...rest } = event;
        return JSON.stringify(rest); // required field missing
      }
      case 4:
        return JSON.stringify({ ...event, revenue: 'twelve' }); // wrong type
      default:
        return JSON.stringify([event]); // not an object
    }
  }
}
