// A limit on failed authentication, so a misconfigured client cannot hammer the agent and a
// guesser gets few tries. Failures are counted over a sliding window per source:
//   - per presented credential (the SHA-256 of the Authorization header, never the header), or
//     per client address when the request carries none: after `maxFailures` (10) in `windowMs` (a minute) that source is refused;
//   - per client address, whatever the tokens, after 10 × maxFailures: one address trying many
//     different tokens is refused too.
// A refused request gets 429 with Retry-After (whole seconds until its oldest counted failure
// leaves the window) before its token is even checked. A request with the right token never
// fails, so it never counts against its token; only its address can be blocked, by failures sent
// from that same address.
import crypto from 'node:crypto';

export interface AuthLimitOptions {
  maxFailures?: number;
  windowMs?: number;
  /** Distinct sources remembered at most (oldest forgotten first); default 10,000. */
  maxSources?: number;
  now?: () => number;
}

const ADDRESS_FACTOR = 10;

export class AuthFailureLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly max: number;
  private readonly windowMs: number;
  private readonly maxSources: number;
  private readonly now: () => number;

  constructor(opts: AuthLimitOptions = {}) {
    this.max = opts.maxFailures ?? 10;
    this.windowMs = opts.windowMs ?? 60_000;
    this.maxSources = opts.maxSources ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** The sources a request counts against, with their limits. */
  private sources(authorization: string | undefined, address: string): Array<[string, number]> {
    // The whole credential (a bearer token, or whatever another scheme sent) is the source.
    const token = authorization?.trim();
    const own = token
      ? `token:${crypto.createHash('sha256').update(token).digest('hex').slice(0, 32)}`
      : `address:${address}`;
    return [
      [own, this.max],
      [`any:${address}`, this.max * ADDRESS_FACTOR],
    ];
  }

  private recent(key: string, t: number): number[] {
    const list = this.failures.get(key);
    if (!list) return [];
    const kept = list.filter((x) => x > t - this.windowMs);
    if (kept.length === 0) this.failures.delete(key);
    else if (kept.length !== list.length) this.failures.set(key, kept);
    return kept;
  }

  /** Seconds the request's source must wait, or 0 when it may try. */
  retryAfter(authorization: string | undefined, address: string): number {
    const t = this.now();
    let wait = 0;
    for (const [key, limit] of this.sources(authorization, address)) {
      const list = this.recent(key, t);
      if (list.length >= limit) {
        const until = (list[list.length - limit] as number) + this.windowMs;
        wait = Math.max(wait, Math.max(1, Math.ceil((until - t) / 1000)));
      }
    }
    return wait;
  }

  recordFailure(authorization: string | undefined, address: string): void {
    const t = this.now();
    for (const [key, limit] of this.sources(authorization, address)) {
      const list = this.recent(key, t);
      list.push(t);
      // Only the newest `limit` failures matter to the decision.
      this.failures.delete(key);
      this.failures.set(key, list.slice(-limit));
    }
    while (this.failures.size > this.maxSources) {
      const oldest = this.failures.keys().next().value as string;
      this.failures.delete(oldest);
    }
  }

  /** Sources remembered (for tests and metrics). */
  get size(): number {
    return this.failures.size;
  }
}
