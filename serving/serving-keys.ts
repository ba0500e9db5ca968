/**
 * The Redis keys the serving layer owns, all under the configured prefix:
 * - `<p>auth:apikeys` hash — SHA-256 hex of an API key → JSON `{ name, roles }`
 *   (written by `braid apikey create --store redis`; config may hold more).
 * - `<p>ratelimit:<caller>` — the per-caller request counters (rate-limiter-flexible).
 * (The speed layer's keys, which serving reads, are built by SpeedKeys.)
 */
export class ServingKeys {
  constructor(readonly prefix: string) {}

  apiKeys(): string {
    return `${this.prefix}auth:apikeys`;
  }
  rateLimitPrefix(): string {
    return `${this.prefix}ratelimit`;
  }
}
