import type { RedisClient } from '@wxmesh/redis';
import { Cluster } from 'ioredis';

/**
 * The inbound keyspace. Both keys carry the `{inbound}` hash tag, so the accept script's two
 * keys share one Redis Cluster slot.
 */
export const inboundKeys = {
  /** STREAM of accepted pushes, read by the consumer group {@link INBOUND_GROUP}. */
  stream: 'wxm:router:{inbound}:stream',
  /** STRING marker of a push already accepted (TTL 1 h): `<appid>:<dedupe key>`. */
  seen: (appid: string, dedupeKey: string) => `wxm:router:{inbound}:seen:${appid}:${dedupeKey}`,
};

/** The consumer group every replica's processor reads the inbound stream in. */
export const INBOUND_GROUP = 'inbound';

/** How long a push's dedupe marker lives: far beyond WeChat's retries (3 within about 15 s). */
export const DEDUPE_TTL_MS = 60 * 60 * 1000;

/** `accepted`: now in the stream; `duplicate`: accepted before; `full`: refused, the stream is at its cap. */
export type AcceptOutcome = 'accepted' | 'duplicate' | 'full';

/** A push as the stream holds it. */
export interface InboundEntry {
  /** The stream entry id. */
  readonly id: string;
  readonly appid: string;
  readonly dedupeKey: string;
  /** The push's fields as parsed from its (decrypted) body. */
  readonly fields: Record<string, unknown>;
  /** When it was accepted (epoch ms). */
  readonly acceptedAt: number;
}

/** Options of {@link createInboundStore}. */
export interface InboundStoreOptions {
  /** Entries the stream may hold before {@link InboundStore.accept} answers `full`. */
  maxEntries: number;
  /**
   * The connection `read` blocks on (a blocked XREADGROUP holds its connection), connected on first
   * read if not yet, and ended by `close()`. Give it one opened for blocking (`createRedisClient`'s
   * `role: 'blocking'`): a commands connection's timeout fails every read that waits out its BLOCK.
   * Without it, a duplicate of `redis` (which inherits its options).
   */
  reader?: RedisClient;
}

/** The durable inbound queue; see {@link createInboundStore}. */
export interface InboundStore {
  /** Accepts a push once: `accepted` only when it was new and is now in the stream. */
  accept(appid: string, dedupeKey: string, fields: object, now: number): Promise<AcceptOutcome>;
  /** Creates the consumer group (reading from the stream's start) when it does not exist. */
  ensureGroup(): Promise<void>;
  /** New entries for `consumer`, waiting up to `blockMs` for the first (on a connection of its own). */
  read(consumer: string, count: number, blockMs: number): Promise<InboundEntry[]>;
  /**
   * Entries pending longer than `minIdleMs` at any consumer, now owned by `consumer`: one page of
   * XAUTOCLAIM's scan from `cursor` (start with `0-0`). `cursor` in the answer is where the next
   * page starts, `0-0` once the scan went round the whole pending list.
   */
  claim(
    consumer: string,
    minIdleMs: number,
    count: number,
    cursor: string,
  ): Promise<{ entries: InboundEntry[]; cursor: string }>;
  /** Processed: acknowledged and deleted, in one step. */
  done(ids: readonly string[]): Promise<void>;
  /** Entries in the stream (accepted, not yet done). */
  length(): Promise<number>;
  /** Closes the blocking-read connection; the shared one stays the caller's. */
  close(): Promise<void>;
}

// KEYS: stream, seen marker. ARGV: ttl ms, max entries, appid, dedupe key, fields JSON, now.
// -> 1 accepted, 0 duplicate, -1 full (nothing written: WeChat's retry may find room).
const ACCEPT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
local id = redis.call('XADD', KEYS[1], '*', 'a', ARGV[3], 'k', ARGV[4], 'f', ARGV[5], 't', ARGV[6])
redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
return 1
`;

// KEYS: stream. ARGV: group, ids...
const DONE = `
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
`;

interface Scripts {
  routerInboundAccept(
    stream: string,
    seen: string,
    ttlMs: number,
    maxEntries: number,
    appid: string,
    dedupeKey: string,
    fields: string,
    now: number,
  ): Promise<number>;
  routerInboundDone(stream: string, group: string, ...ids: string[]): Promise<number>;
}

const OUTCOMES: Record<number, AcceptOutcome> = { 1: 'accepted', 0: 'duplicate', [-1]: 'full' };

type RawEntry = [id: string, fields: string[] | null] | null;

/**
 * The inbound stream in Redis. A push is accepted by one Lua script that checks its dedupe
 * marker and the stream's size, then XADDs it and sets the marker: WeChat's three retries of one
 * push land once, and an answered push is already in Redis (as durable as the server's
 * persistence makes it). The stream is never trimmed; it is bounded by refusing new pushes
 * (`full`) while it holds `maxEntries`, and WeChat retries those.
 *
 * Readers share the consumer group {@link INBOUND_GROUP}. `read` blocks on a connection of its
 * own (`options.reader`, or a duplicate of `redis`, opened on first use) so it never stalls the
 * shared one; `close()` ends it.
 */
export function createInboundStore(redis: RedisClient, options: InboundStoreOptions): InboundStore {
  if (!('routerInboundAccept' in redis)) {
    redis.defineCommand('routerInboundAccept', { lua: ACCEPT, numberOfKeys: 2 });
    redis.defineCommand('routerInboundDone', { lua: DONE, numberOfKeys: 1 });
  }
  const r = redis as RedisClient & Scripts;
  let reader: RedisClient | undefined = options.reader;
  const { stream } = inboundKeys;

  return {
    async accept(appid, dedupeKey, fields, now) {
      const seen = inboundKeys.seen(appid, dedupeKey);
      const json = JSON.stringify(fields, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      const code = await r.routerInboundAccept(
        stream,
        seen,
        DEDUPE_TTL_MS,
        options.maxEntries,
        appid,
        dedupeKey,
        json,
        now,
      );
      return OUTCOMES[code]!;
    },

    async ensureGroup() {
      try {
        await r.xgroup('CREATE', stream, INBOUND_GROUP, '0', 'MKSTREAM');
      } catch (err) {
        if (!(err instanceof Error && err.message.startsWith('BUSYGROUP'))) throw err;
      }
    },

    async read(consumer, count, blockMs) {
      reader ??= duplicateConnection(redis);
      if (reader.status === 'wait') await reader.connect();
      const reply = (await reader.xreadgroup(
        'GROUP',
        INBOUND_GROUP,
        consumer,
        'COUNT',
        count,
        'BLOCK',
        blockMs,
        'STREAMS',
        stream,
        '>',
      )) as Array<[string, RawEntry[]]> | null;
      return decodeEntries(reply?.[0]?.[1] ?? []);
    },

    async claim(consumer, minIdleMs, count, cursor) {
      const reply = (await r.xautoclaim(
        stream,
        INBOUND_GROUP,
        consumer,
        minIdleMs,
        cursor,
        'COUNT',
        count,
      )) as [string, RawEntry[], string[]?];
      return { entries: decodeEntries(reply[1]), cursor: reply[0] };
    },

    async done(ids) {
      if (ids.length === 0) return;
      await r.routerInboundDone(stream, INBOUND_GROUP, ...ids);
    },

    length: () => r.xlen(stream),

    async close() {
      const open = reader;
      reader = undefined;
      open?.disconnect();
    },
  };
}

/**
 * A new connection (a new client, in cluster mode) of the same mode and options as `redis`, not yet
 * connected. (The two branches are the same call: TypeScript cannot call `duplicate` on the union,
 * whose members' signatures differ.)
 */
function duplicateConnection(redis: RedisClient): RedisClient {
  return redis instanceof Cluster ? redis.duplicate() : redis.duplicate();
}

/**
 * The stream's codec: short field names in, an {@link InboundEntry} out. An entry whose fields
 * are gone or unreadable comes back with empty fields (the processor drops it as invalid).
 */
function decodeEntries(raw: readonly RawEntry[]): InboundEntry[] {
  const out: InboundEntry[] = [];
  for (const item of raw) {
    if (!item) continue;
    const [id, flat] = item;
    const values = new Map<string, string>();
    for (let i = 0; flat && i + 1 < flat.length; i += 2) values.set(flat[i]!, flat[i + 1]!);
    let fields: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(values.get('f') ?? '{}');
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
        fields = parsed as Record<string, unknown>;
    } catch {
      // left empty: the processor reports and drops it
    }
    out.push({
      id,
      appid: values.get('a') ?? '',
      dedupeKey: values.get('k') ?? '',
      fields,
      acceptedAt: Number(values.get('t') ?? 0),
    });
  }
  return out;
}
