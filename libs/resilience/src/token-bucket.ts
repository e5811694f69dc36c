import type { Cluster, Redis } from 'ioredis';

export interface TokenBucketOptions {
  /** Prepended to every key, e.g. `wxm:auth:rl:login:` (the owning service's keyspace). */
  keyPrefix: string;
  /** Maximum tokens, i.e. the burst size. A new or idle bucket starts full. */
  capacity: number;
  /** Tokens added per second, fractions allowed (0.5 = one token every 2 s). */
  refillPerSecond: number;
}

export interface TakeResult {
  allowed: boolean;
  /** Whole tokens left after this take. */
  remaining: number;
  /** 0 when allowed; otherwise how long until `n` tokens will be there (absent other takers). */
  retryAfterMs: number;
}

export interface TokenBucket {
  /** Takes `n` tokens from the bucket at `key` if they are all there, else none. `n` must not exceed capacity. */
  take(key: string, n?: number): Promise<TakeResult>;
}

/*
 * State is a hash {tokens, ts} with ts in Redis server microseconds. Refill, check and update happen
 * in one script, so concurrent takers (any number of replicas) can never overdraw the bucket. The
 * clock is Redis `TIME`, not the client's: replicas with skewed clocks still agree, and if the server
 * clock steps back we keep the later timestamp rather than un-refilling. Redis >= 5 replicates the
 * script's effects, which is what makes calling TIME before writing allowed.
 * The TTL is the time until the bucket would be full again; an expired bucket and a full one are the
 * same thing, so idle buckets vanish without changing behaviour.
 */
const TAKE_LUA = `
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate / 1000000)
  ts = now
end
local allowed = 0
local retry_after_ms = 0
if tokens >= n then
  tokens = tokens - n
  allowed = 1
else
  retry_after_ms = math.ceil((n - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.0f', ts))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((capacity - tokens) * 1000 / rate)))
return {allowed, math.floor(tokens), retry_after_ms}
`;

const COMMAND = 'wxmeshTokenBucketTake';

type WithTake = {
  [COMMAND](key: string, capacity: string, rate: string, n: string): Promise<[number, number, number]>;
};

/**
 * A token-bucket rate limiter shared by every replica through Redis: each `take` is one atomic Lua
 * script (sent once, then run by EVALSHA via ioredis `defineCommand`), timed by the Redis server clock.
 *
 * Redis Cluster: the script touches exactly the one key it is given (`keyPrefix + key`, declared in
 * KEYS), so it runs on that key's node unchanged. Per the mesh's key rules, pass user keys hash-tagged,
 * e.g. `take('{' + openid + '}')`, so a user's rate-limit bucket lives in the same slot as the rest of
 * that user's keys and can join them in a multi-key script or transaction later. Never build key names
 * inside the script.
 */
export function createTokenBucket(redis: Redis | Cluster, options: TokenBucketOptions): TokenBucket {
  const { keyPrefix, capacity, refillPerSecond } = options;
  if (!(capacity > 0) || !Number.isFinite(capacity))
    throw new RangeError('capacity must be a positive number');
  if (!(refillPerSecond > 0) || !Number.isFinite(refillPerSecond)) {
    throw new RangeError('refillPerSecond must be a positive number');
  }
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: TAKE_LUA });
  const client = redis as unknown as WithTake;

  return {
    async take(key, n = 1) {
      if (!(n > 0) || n > capacity) throw new RangeError(`n must be in (0, ${capacity}], got ${n}`);
      const [allowed, remaining, retryAfterMs] = await client[COMMAND](
        keyPrefix + key,
        String(capacity),
        String(refillPerSecond),
        String(n),
      );
      return { allowed: allowed === 1, remaining, retryAfterMs };
    },
  };
}
