import type { RedisClient } from '@wxmesh/redis';

/** A user's answer for one subscribe-message template, as WeChat's events report it. */
export type SubscriptionStatus = 'accept' | 'reject' | 'ban';

/** One answer to record; `at` (epoch ms, WeChat's CreateTime) orders answers that arrive out of order. */
export interface SubscriptionChangeRecord {
  readonly templateId: string;
  readonly status: SubscriptionStatus;
  readonly at?: number;
}

/** Per-user, per-template subscription state: the inbound side writes it, the sender consults it. */
export interface SubscriptionStore {
  /** The user's latest answer for the template, undefined when never heard of. */
  status(appid: string, openid: string, templateId: string): Promise<SubscriptionStatus | undefined>;
  /**
   * Records answers (one push can carry several templates). An answer with `at` older than the
   * one recorded for the template is ignored, so a push processed late (a retry, a claimed
   * entry) never overwrites a newer answer; one without `at` always wins.
   */
  record(appid: string, openid: string, changes: ReadonlyArray<SubscriptionChangeRecord>): Promise<void>;
}

/** `wxm:router:sub:{<openid>}`: HASH `<appid>:<template_id>` → status, `<appid>:<template_id>:at` → epoch ms. */
export const subscriptionKey = (openid: string): string => `wxm:router:sub:{${openid}}`;

const field = (appid: string, templateId: string) => `${appid}:${templateId}`;

// ARGV: triples of (field, status, at); at = '' for "no time: always write".
const RECORD = `
for i = 1, #ARGV, 3 do
  local f, status, at = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if at == '' then
    redis.call('HSET', KEYS[1], f, status)
    redis.call('HDEL', KEYS[1], f .. ':at')
  else
    local seen = tonumber(redis.call('HGET', KEYS[1], f .. ':at') or '-1')
    if tonumber(at) >= seen then redis.call('HSET', KEYS[1], f, status, f .. ':at', at) end
  end
end
return 1
`;

interface Scripts {
  routerSubscriptionRecord(key: string, ...args: string[]): Promise<number>;
}

const STATUSES: ReadonlySet<string> = new Set<SubscriptionStatus>(['accept', 'reject', 'ban']);

/**
 * The subscription state in Redis, one hash per user (hash-tagged by openid, so a Redis Cluster
 * keeps each user's templates in one slot). A record is one Lua script: its answers land
 * together and in time order.
 */
export function createSubscriptionStore(redis: RedisClient): SubscriptionStore {
  if (!('routerSubscriptionRecord' in redis))
    redis.defineCommand('routerSubscriptionRecord', { lua: RECORD, numberOfKeys: 1 });
  const r = redis as RedisClient & Scripts;
  return {
    async status(appid, openid, templateId) {
      const raw = await r.hget(subscriptionKey(openid), field(appid, templateId));
      return raw !== null && STATUSES.has(raw) ? (raw as SubscriptionStatus) : undefined;
    },
    async record(appid, openid, changes) {
      if (changes.length === 0) return;
      const args = changes.flatMap((c) => [
        field(appid, c.templateId),
        c.status,
        c.at === undefined ? '' : String(c.at),
      ]);
      await r.routerSubscriptionRecord(subscriptionKey(openid), ...args);
    },
  };
}
