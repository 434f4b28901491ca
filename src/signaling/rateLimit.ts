import { RATE_BURST, RATE_PER_SECOND } from "./limits.js";

/** Token bucket, refilled lazily on each take (no timers per participant). */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond = RATE_PER_SECOND,
    private readonly burst = RATE_BURST,
    now = Date.now(),
  ) {
    this.tokens = burst;
    this.last = now;
  }

  take(now = Date.now()): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
