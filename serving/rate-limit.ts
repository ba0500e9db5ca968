import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../shared/config/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import type { Principal } from './auth/authenticator.ts';
import { ServingKeys } from './serving-keys.ts';

/**
 * Requests per second per caller (API key name, JWT subject or anonymous
 * address), counted in Redis so the limit holds across serving replicas.
 */
export class CallerRateLimiter {
  private readonly limiter: RateLimiterRedis | null;

  constructor(config: Config, redis: Redis) {
    const points = config.serving.limits.requestsPerSecond;
    this.limiter =
      points === 0
        ? null
        : new RateLimiterRedis({ storeClient: redis, keyPrefix: new ServingKeys(config.redis.keyPrefix).rateLimitPrefix(), points, duration: 1, inMemoryBlockOnConsumed: points * 2 });
  }

  /** Counts one request; throws RATE_LIMITED (with `retryAfterMs`) past the limit. */
  async consume(principal: Principal): Promise<void> {
    if (!this.limiter) return;
    try {
      await this.limiter.consume(`${principal.kind}:${principal.name}`);
    } catch (thrown) {
      if (!(thrown instanceof RateLimiterRes)) throw new BraidError(ErrorCode.REDIS_UNREACHABLE, `rate limit check failed: ${(thrown as Error).message}`, { cause: thrown });
      throw new BraidError(ErrorCode.RATE_LIMITED, `rate limit of ${this.limiter.points} requests per second exceeded by ${principal.name}`, {
        fields: { retryAfterMs: thrown.msBeforeNext },
      });
    }
  }
}
