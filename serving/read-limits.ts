import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../shared/config/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import type { Principal } from './auth/authenticator.ts';
import { ServingKeys } from './serving-keys.ts';

/**
 * The work one read did, filled in as it goes: the cells (window × group rows) it read from the batch and speed
 * layers. A read served from the response cache reads none.
 */
export interface ReadWork {
  cells: number;
}

/** What a read asks of its caller's limits while it runs (see {@link ReadLimits.forRequest}). */
export interface ReadBudget {
  /** Called before a read does its work (not for answers from the cache): waits for nothing, refuses past the concurrency bounds; returns the release. */
  admit(): () => void;
  /** Adds `cells` to the read's work; fails the read with LIMIT_EXCEEDED past the per-request budget. */
  charge(cells: number): void;
  readonly work: ReadWork;
}

const callerKey = (principal: Principal) => `${principal.kind}:${principal.name}`;

/**
 * The bounds on what reads cost, beside the request rate limit: a per-request budget of cells, a per-caller
 * budget of cells per second (counted in Redis, so it holds across replicas), concurrent reads doing work per
 * caller and in all (per replica), and open subscriptions per caller. Each refusal is a coded error naming its
 * limit (`limit` in the error's fields): LIMIT_EXCEEDED for a request that asks too much on its own, RATE_LIMITED
 * (with `retryAfterMs`) for a caller that asks too much at once.
 */
export class ReadLimits {
  private readonly limits: Config['serving']['limits'];
  private readonly cellsPerSecond: RateLimiterRedis | null;
  private readonly activeByCaller = new Map<string, number>();
  private active = 0;
  private readonly subscriptionsByCaller = new Map<string, number>();
  /** Callers whose cells per second are spent, until when. */
  private readonly spentUntil = new Map<string, number>();

  constructor(config: Config, redis: Redis) {
    this.limits = config.serving.limits;
    const points = this.limits.cellsPerSecond;
    this.cellsPerSecond =
      points === 0 ? null : new RateLimiterRedis({ storeClient: redis, keyPrefix: `${new ServingKeys(config.redis.keyPrefix).rateLimitPrefix()}:cells`, points, duration: 1 });
  }

  /** Reads being worked on now (cache misses), in all. */
  get activeReads(): number {
    return this.active;
  }

  /**
   * Refuses a caller whose cells of the last second are spent (RATE_LIMITED, `limit: cellsPerSecond`), as the
   * last charge told this server: no round trip to Redis on the way in.
   */
  checkCaller(principal: Principal): void {
    const key = callerKey(principal);
    const until = this.spentUntil.get(key);
    if (until === undefined) return;
    const waitMs = until - Date.now();
    if (waitMs <= 0) {
      this.spentUntil.delete(key);
      return;
    }
    throw new BraidError(ErrorCode.RATE_LIMITED, `read budget of ${this.limits.cellsPerSecond} cells per second spent by ${principal.name}`, {
      fields: { limit: 'cellsPerSecond', retryAfterMs: waitMs },
    });
  }

  /**
   * Charges a finished read's cells to its caller's budget per second, in Redis (shared by every server); once the
   * budget is spent, {@link checkCaller} refuses the caller until the second that spent it has passed.
   */
  async chargeCaller(principal: Principal, cells: number): Promise<void> {
    if (!this.cellsPerSecond || cells === 0) return;
    const key = callerKey(principal);
    let result: RateLimiterRes;
    try {
      result = await this.cellsPerSecond.penalty(key, cells);
    } catch (thrown) {
      if (!(thrown instanceof RateLimiterRes)) throw new BraidError(ErrorCode.REDIS_UNREACHABLE, `read budget charge failed: ${(thrown as Error).message}`, { cause: thrown });
      result = thrown;
    }
    if (result.remainingPoints <= 0) this.spentUntil.set(key, Date.now() + Math.max(1, result.msBeforeNext));
  }

  /** The budget of one request by `principal`. */
  forRequest(principal: Principal): ReadBudget {
    const limits = this.limits;
    const key = callerKey(principal);
    const work: ReadWork = { cells: 0 };
    return {
      work,
      admit: () => {
        const mine = this.activeByCaller.get(key) ?? 0;
        if (mine >= limits.maxConcurrentReadsPerCaller) {
          throw new BraidError(ErrorCode.RATE_LIMITED, `${principal.name} already has ${mine} reads running (limit ${limits.maxConcurrentReadsPerCaller})`, {
            fields: { limit: 'maxConcurrentReadsPerCaller', retryAfterMs: 1_000 },
          });
        }
        if (this.active >= limits.maxConcurrentReads) {
          throw new BraidError(ErrorCode.RATE_LIMITED, `the server already runs ${this.active} reads (limit ${limits.maxConcurrentReads})`, {
            fields: { limit: 'maxConcurrentReads', retryAfterMs: 1_000 },
          });
        }
        this.activeByCaller.set(key, mine + 1);
        this.active++;
        let released = false;
        return () => {
          if (released) return;
          released = true;
          this.active--;
          const left = (this.activeByCaller.get(key) ?? 1) - 1;
          if (left === 0) this.activeByCaller.delete(key);
          else this.activeByCaller.set(key, left);
        };
      },
      charge: (cells) => {
        work.cells += cells;
        if (work.cells > limits.maxCellsPerRequest) {
          throw new BraidError(ErrorCode.LIMIT_EXCEEDED, `the query reads more than ${limits.maxCellsPerRequest} cells (window × group rows); narrow its range, filter it or coarsen its granularity`, {
            fields: { limit: 'maxCellsPerRequest', cells: work.cells },
          });
        }
      },
    };
  }

  /** Opens a subscription for `principal`, or refuses past `maxSubscriptionsPerCaller`; returns the way to close it. */
  openSubscription(principal: Principal): () => void {
    const key = callerKey(principal);
    const open = this.subscriptionsByCaller.get(key) ?? 0;
    if (open >= this.limits.maxSubscriptionsPerCaller) {
      throw new BraidError(ErrorCode.RATE_LIMITED, `${principal.name} already has ${open} subscriptions open (limit ${this.limits.maxSubscriptionsPerCaller})`, {
        fields: { limit: 'maxSubscriptionsPerCaller', retryAfterMs: 1_000 },
      });
    }
    this.subscriptionsByCaller.set(key, open + 1);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      const left = (this.subscriptionsByCaller.get(key) ?? 1) - 1;
      if (left === 0) this.subscriptionsByCaller.delete(key);
      else this.subscriptionsByCaller.set(key, left);
    };
  }
}
