import { createHash, randomBytes } from 'node:crypto';
import { Jwt } from 'hono/utils/jwt';
import { JwtAlgorithmMismatch, JwtHeaderInvalid, JwtTokenExpired, JwtTokenInvalid, JwtTokenIssuedAt, JwtTokenNotBefore, JwtTokenSignatureMismatched } from 'hono/utils/jwt/types';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../../shared/config/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import type { View } from '../../shared/views/index.ts';
import { ServingKeys } from '../serving-keys.ts';

/** Who is asking, as established from the request's credentials. */
export interface Principal {
  readonly name: string;
  readonly kind: 'apiKey' | 'jwt' | 'anonymous';
  readonly roles: readonly string[];
}

/** The credentials a request carries (header values as received). */
export interface Credentials {
  readonly authorization?: string | undefined;
  readonly apiKey?: string | undefined;
  /** Identifies the caller's address: anonymous callers and failed authentications are counted by it. */
  readonly clientAddress?: string | undefined;
}

export const ANONYMOUS_ROLE = '*anonymous';

/** The SHA-256 hex of an API key: what config and Redis hold instead of the key. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new random API key (`brd_` + 32 bytes base64url). */
export function newApiKey(): string {
  return `brd_${randomBytes(32).toString('base64url')}`;
}

function unauthenticated(message: string, hint?: string): BraidError {
  return new BraidError(ErrorCode.UNAUTHENTICATED, message, hint ? { hint } : {});
}

/** API keys held in Redis that one server remembers (LRU), and for how long (a revoked key stops working within that time). */
export const REDIS_KEY_CACHE_ENTRIES = 10_000;
export const REDIS_KEY_CACHE_TTL_MS = 5_000;

type KeyEntry = { name: string; roles: readonly string[] };

/** An Authorization scheme worth repeating in an error: a short word, never a pasted token. */
const SCHEME_NAME = /^[A-Za-z][A-Za-z0-9._-]{0,19}$/;

/** Why hono refused a JWT, in words that never repeat the token (hono's own messages quote it). */
function jwtRefusal(thrown: unknown): string {
  if (thrown instanceof JwtTokenExpired) return 'it has expired (`exp`)';
  if (thrown instanceof JwtTokenNotBefore) return 'it is not valid yet (`nbf`)';
  if (thrown instanceof JwtTokenIssuedAt) return 'it is issued in the future (`iat`)';
  if (thrown instanceof JwtTokenSignatureMismatched) return 'its signature does not match';
  if (thrown instanceof JwtAlgorithmMismatch || thrown instanceof JwtHeaderInvalid) return 'only `alg: HS256` (`typ: JWT`) is accepted';
  if (thrown instanceof JwtTokenInvalid) return 'it is not a well-formed JWT';
  return 'it does not verify';
}

/**
 * Checks credentials: an API key (`X-API-Key: <key>` or `Authorization: ApiKey <key>`),
 * looked up by its hash in config then in Redis; or an HS256 JWT (`Authorization:
 * Bearer <jwt>`, claims `sub`, `roles` and `exp`); or none, when anonymous access is on.
 *
 * Failed authentications are counted per client address in this process
 * (`serving.limits.failedAuthPerSecond`): past the limit, failing attempts from
 * that address get RATE_LIMITED, and API keys not already remembered are not
 * looked up in Redis until the second has passed. Credentials that verify
 * without Redis (config keys, JWTs, remembered Redis keys) still pass.
 */
export class Authenticator {
  private readonly configKeys: ReadonlyMap<string, KeyEntry>;
  private readonly keys: ServingKeys;
  /** Redis keys by hash (`entry: null` for a hash Redis does not hold); concurrent misses of one hash share one lookup. */
  private readonly redisKeys: LRUCache<string, { entry: KeyEntry | null }>;
  private readonly failures: RateLimiterMemory | null;
  readonly anonymous: boolean;

  constructor(
    private readonly config: Config,
    private readonly redis: Redis,
  ) {
    this.configKeys = new Map(config.serving.auth.apiKeys.map((key) => [key.sha256, { name: key.name, roles: key.roles }]));
    this.keys = new ServingKeys(config.redis.keyPrefix);
    this.anonymous = config.serving.auth.anonymous ?? config.serving.development;
    this.redisKeys = new LRUCache({
      max: REDIS_KEY_CACHE_ENTRIES,
      ttl: REDIS_KEY_CACHE_TTL_MS,
      // A lookup evicted while in flight (a flood of unknown keys) still answers its caller.
      ignoreFetchAbort: true,
      fetchMethod: async (hash) => {
        const text = await this.redis.hget(this.keys.apiKeys(), hash);
        return { entry: text === null ? null : (JSON.parse(text) as KeyEntry) };
      },
    });
    const points = config.serving.limits.failedAuthPerSecond;
    this.failures = points === 0 ? null : new RateLimiterMemory({ points, duration: 1 });
  }

  /** Redis keys (and unknown hashes) remembered; at most {@link REDIS_KEY_CACHE_ENTRIES}. */
  get rememberedKeys(): number {
    return this.redisKeys.size;
  }

  async authenticate(credentials: Credentials): Promise<Principal> {
    const address = credentials.clientAddress ?? 'unknown';
    const blocked = await this.blockedFor(address);
    try {
      return await this.check(credentials, blocked);
    } catch (thrown) {
      if (thrown instanceof BraidError && thrown.code === ErrorCode.UNAUTHENTICATED) throw await this.countFailure(address, thrown);
      throw thrown;
    }
  }

  private async check(credentials: Credentials, blocked: RateLimiterRes | null): Promise<Principal> {
    const authorization = credentials.authorization?.trim();
    const [scheme, token] = authorization ? authorization.split(/\s+/, 2) : [];
    const apiKey = credentials.apiKey?.trim() || (scheme?.toLowerCase() === 'apikey' ? token : undefined);
    if (apiKey) return this.byApiKey(apiKey, blocked);
    if (scheme?.toLowerCase() === 'bearer' && token) return this.byJwt(token);
    if (authorization) {
      const named = scheme && SCHEME_NAME.test(scheme) ? ` ${JSON.stringify(scheme)}` : '';
      throw unauthenticated(`unsupported Authorization scheme${named}`, 'send `Authorization: Bearer <jwt>`, `Authorization: ApiKey <key>` or `X-API-Key: <key>`');
    }
    if (this.anonymous) return { name: `anonymous@${credentials.clientAddress ?? 'unknown'}`, kind: 'anonymous', roles: [ANONYMOUS_ROLE] };
    throw unauthenticated('credentials required', 'send `X-API-Key: <key>` (npx braid apikey create) or `Authorization: Bearer <jwt>`');
  }

  /** The address's failures of this second when they have reached the limit, else null. */
  private async blockedFor(address: string): Promise<RateLimiterRes | null> {
    if (!this.failures) return null;
    const counted = await this.failures.get(address);
    return counted && counted.remainingPoints === 0 && counted.msBeforeNext > 0 ? counted : null;
  }

  /** Counts a failed authentication: the error to throw, `refusal` itself within the limit. */
  private async countFailure(address: string, refusal: BraidError): Promise<BraidError> {
    if (!this.failures) return refusal;
    try {
      await this.failures.consume(address);
      return refusal;
    } catch (thrown) {
      if (thrown instanceof RateLimiterRes) return this.rateLimited(thrown);
      throw thrown;
    }
  }

  private rateLimited(counted: RateLimiterRes): BraidError {
    return new BraidError(ErrorCode.RATE_LIMITED, `too many failed authentications from this address: the limit is ${this.failures?.points} a second (serving.limits.failedAuthPerSecond)`, {
      fields: { limit: 'failedAuthPerSecond', retryAfterMs: Math.max(counted.msBeforeNext, 1) },
      hint: 'check the API key or JWT the client sends',
    });
  }

  private async byApiKey(key: string, blocked: RateLimiterRes | null): Promise<Principal> {
    const hash = hashApiKey(key);
    const configured = this.configKeys.get(hash);
    if (configured) return { name: configured.name, kind: 'apiKey', roles: configured.roles };
    // A blocked address gets only what is already remembered: its flood never reaches Redis.
    const remembered = blocked ? this.redisKeys.get(hash) : await this.redisKeys.fetch(hash);
    if (remembered?.entry) return { name: remembered.entry.name, kind: 'apiKey', roles: remembered.entry.roles };
    if (blocked) throw this.rateLimited(blocked);
    throw unauthenticated('unknown API key');
  }

  private async byJwt(token: string): Promise<Principal> {
    const secret = this.config.serving.auth.jwtSecret;
    if (!secret) throw unauthenticated('JWTs are not accepted by this server', 'set serving.auth.jwtSecret (BRAID_JWT_SECRET), or use an API key');
    let verified: unknown;
    try {
      verified = await Jwt.verify(token, secret, 'HS256');
    } catch (thrown) {
      throw unauthenticated(`invalid JWT: ${jwtRefusal(thrown)}`);
    }
    if (typeof verified !== 'object' || verified === null || Array.isArray(verified)) throw unauthenticated('invalid JWT: its payload is not a JSON object');
    const payload = verified as Record<string, unknown>;
    // hono refuses an `exp` in the past or not a number, but lets a token without one through.
    if (payload.exp === undefined) throw unauthenticated('the JWT has no `exp` claim', 'sign JWTs with an expiry: `exp`, in seconds since the epoch');
    const roles = payload.roles;
    if (roles === undefined) {
      throw unauthenticated('the JWT has no `roles` claim', payload.role !== undefined ? 'put the roles in `roles`, an array of strings (a `role` claim is not read)' : 'add `roles`, an array of role names');
    }
    if (!Array.isArray(roles) || roles.length === 0 || !roles.every((role) => typeof role === 'string' && role.length > 0)) {
      throw unauthenticated('the JWT’s `roles` claim must be a non-empty array of role names (strings)');
    }
    return { name: typeof payload.sub === 'string' ? payload.sub : 'jwt', kind: 'jwt', roles: roles as string[] };
  }

  /** Throws FORBIDDEN unless one of the principal's roles grants the view. */
  assertCanRead(principal: Principal, view: View): void {
    if (canRead(this.config, principal, view.name)) return;
    throw new BraidError(ErrorCode.FORBIDDEN, `${principal.name} (roles: ${principal.roles.join(', ')}) may not read view ${view.name}`, {
      fields: { view: view.name },
      hint: `grant it in serving.auth.roles, e.g. roles: { ${principal.roles[0] ?? 'reader'}: [${view.name}] }`,
    });
  }
}

/** Whether a principal may read a view: anonymous callers read every view; others need a role granting it (or `*`). */
export function canRead(config: Config, principal: Principal, view: string): boolean {
  if (principal.kind === 'anonymous') return true;
  const grants = config.serving.auth.roles;
  return principal.roles.some((role) => {
    // Own keys only: a role called `constructor` or `toString` must not find Object.prototype's.
    const views = Object.hasOwn(grants, role) ? grants[role] : undefined;
    return Array.isArray(views) && (views.includes('*') || views.includes(view));
  });
}
