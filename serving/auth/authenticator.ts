import { createHash, randomBytes } from 'node:crypto';
import { Jwt } from 'hono/utils/jwt';
import type { Redis } from 'ioredis';
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
  /** Identifies an anonymous caller for rate limiting. */
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

/**
 * Checks credentials: an API key (`X-API-Key: <key>` or `Authorization: ApiKey <key>`),
 * looked up by its hash in config then in Redis; or an HS256 JWT (`Authorization:
 * Bearer <jwt>`, claims `sub` and `roles`); or none, when anonymous access is on.
 */
export class Authenticator {
  private readonly configKeys: ReadonlyMap<string, { name: string; roles: readonly string[] }>;
  private readonly keys: ServingKeys;
  private readonly redisKeys = new Map<string, { entry: { name: string; roles: string[] } | null; atMs: number }>();
  readonly anonymous: boolean;

  constructor(
    private readonly config: Config,
    private readonly redis: Redis,
  ) {
    this.configKeys = new Map(config.serving.auth.apiKeys.map((key) => [key.sha256, { name: key.name, roles: key.roles }]));
    this.keys = new ServingKeys(config.redis.keyPrefix);
    this.anonymous = config.serving.auth.anonymous ?? config.serving.development;
  }

  async authenticate(credentials: Credentials): Promise<Principal> {
    const authorization = credentials.authorization?.trim();
    const [scheme, token] = authorization ? authorization.split(/\s+/, 2) : [];
    const apiKey = credentials.apiKey?.trim() || (scheme?.toLowerCase() === 'apikey' ? token : undefined);
    if (apiKey) return this.byApiKey(apiKey);
    if (scheme?.toLowerCase() === 'bearer' && token) return this.byJwt(token);
    if (authorization) throw unauthenticated(`unsupported Authorization scheme ${JSON.stringify(scheme)}`, 'send `Authorization: Bearer <jwt>`, `Authorization: ApiKey <key>` or `X-API-Key: <key>`');
    if (this.anonymous) return { name: `anonymous@${credentials.clientAddress ?? 'unknown'}`, kind: 'anonymous', roles: [ANONYMOUS_ROLE] };
    throw unauthenticated('credentials required', 'send `X-API-Key: <key>` (npx braid apikey create) or `Authorization: Bearer <jwt>`');
  }

  private async byApiKey(key: string): Promise<Principal> {
    const hash = hashApiKey(key);
    const entry = this.configKeys.get(hash) ?? (await this.redisKey(hash));
    if (!entry) throw unauthenticated('unknown API key');
    return { name: entry.name, kind: 'apiKey', roles: entry.roles };
  }

  /** Keys stored in Redis, remembered for a few seconds (a revoked key stops working within that time). */
  private async redisKey(hash: string): Promise<{ name: string; roles: string[] } | null> {
    const cached = this.redisKeys.get(hash);
    if (cached && Date.now() - cached.atMs < 5_000) return cached.entry;
    const text = await this.redis.hget(this.keys.apiKeys(), hash);
    const entry = text === null ? null : (JSON.parse(text) as { name: string; roles: string[] });
    this.redisKeys.set(hash, { entry, atMs: Date.now() });
    return entry;
  }

  private async byJwt(token: string): Promise<Principal> {
    const secret = this.config.serving.auth.jwtSecret;
    if (!secret) throw unauthenticated('JWTs are not accepted by this server', 'set serving.auth.jwtSecret (BRAID_JWT_SECRET), or use an API key');
    let payload: Record<string, unknown>;
    try {
      payload = (await Jwt.verify(token, secret, 'HS256')) as Record<string, unknown>;
    } catch (thrown) {
      throw unauthenticated(`invalid JWT: ${(thrown as Error).message}`);
    }
    const roles = Array.isArray(payload.roles) ? payload.roles.map(String) : typeof payload.role === 'string' ? [payload.role] : [];
    if (roles.length === 0) throw unauthenticated('the JWT has no `roles` claim');
    return { name: typeof payload.sub === 'string' ? payload.sub : 'jwt', kind: 'jwt', roles };
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
