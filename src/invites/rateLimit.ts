import { HttpProblem } from "../http/problem.js";

/**
 * Fixed-size sliding window per key: at most `limit` hits in `windowMs`.
 * In memory on purpose — a restart resetting the counters is harmless, and
 * the point is to stop a leaked key or a loop from mass-mailing.
 */
export class SlidingWindowLimit {
  private readonly hits = new Map<string, number[]>();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    private readonly what: string,
  ) {}

  /** Counts one hit for `key` or throws 429 `rate_limited` with Retry-After seconds. */
  take(key: string, now = Date.now()): void {
    const list = (this.hits.get(key) ?? []).filter((t) => t > now - this.windowMs);
    if (list.length >= this.limit) {
      const retryAfter = Math.max(1, Math.ceil((list[0]! + this.windowMs - now) / 1000));
      this.hits.set(key, list);
      throw new HttpProblem(429, "rate_limited", `At most ${this.limit} invites per ${Math.round(this.windowMs / 60000)} minutes ${this.what}; retry in ${retryAfter} s.`, { retryAfter });
    }
    list.push(now);
    this.hits.set(key, list);
  }

  /** Gives a hit back (the request was refused for another reason after counting). */
  untake(key: string): void {
    this.hits.get(key)?.pop();
  }
}
