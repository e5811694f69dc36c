/** A token bucket's settings: refill rate and capacity. */
export interface RateLimit {
  /** Tokens added per second (may be fractional). */
  readonly perSecond: number;
  /** Bucket capacity: how many calls may go through at once after a quiet spell. */
  readonly burst: number;
}

/**
 * Per-app, per-API token buckets on the sandbox clock (`clock`, so advancing the sandbox clock
 * refills them). An API without a limit is never throttled.
 */
export function createRateLimits(clock: () => number) {
  let buckets = new Map<string, RateLimit & { tokens: number; at: number }>();
  const key = (appid: string, api: string) => `${appid}\0${api}`;
  return {
    /** Sets a full bucket for the app's API; `undefined` removes the limit. */
    set(appid: string, api: string, limit: RateLimit | undefined): void {
      if (limit === undefined) buckets.delete(key(appid, api));
      else buckets.set(key(appid, api), { ...limit, tokens: limit.burst, at: clock() });
    },
    /** Takes one token; false when the bucket is empty (the call is over the limit). */
    take(appid: string, api: string): boolean {
      const bucket = buckets.get(key(appid, api));
      if (bucket === undefined) return true;
      const now = clock();
      const refill = (Math.max(0, now - bucket.at) / 1000) * bucket.perSecond;
      bucket.tokens = Math.min(bucket.burst, bucket.tokens + refill);
      bucket.at = now;
      if (bucket.tokens < 1) return false;
      bucket.tokens -= 1;
      return true;
    },
    reset(): void {
      buckets = new Map();
    },
  };
}
