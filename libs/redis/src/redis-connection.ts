import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/**
 * How to reach Redis, by mode (the shape `@wxmesh/config`'s `redisConnection(config)` returns).
 * `url` is `redis://` or `rediss://` (TLS); in every mode it carries the credentials and TLS; in
 * `standalone` it is the server, in `cluster` one seed node, in `sentinel` only the database (its host
 * is ignored: the Sentinels name the primary).
 */
export type RedisConnection =
  | { readonly mode: 'standalone'; readonly url: string }
  | {
      readonly mode: 'sentinel';
      readonly url: string;
      /** `host:port` of each Sentinel. */
      readonly sentinels: readonly string[];
      /** The master name the Sentinels monitor. */
      readonly sentinelName: string;
    }
  | {
      readonly mode: 'cluster';
      readonly url: string;
      /** More seed nodes (`host:port`) besides `url`'s; the client discovers the rest. */
      readonly nodes: readonly string[];
    };

/** A client of any mode: the commands services use are the same on both. */
export type RedisClient = Redis | Cluster;

/** What {@link openRedis} needs beyond the connection: the per-connection settings every mode shares. */
export interface RedisConnectionSettings {
  /** ioredis options for each server connection (timeouts, retries, name). */
  readonly perConnection: RedisOptions;
  /** How often a lost connection (or, in cluster mode, the whole cluster) is retried. */
  readonly retryStrategy: (attempt: number) => number;
  readonly autoPipelining: boolean;
}

/** The credentials, database and TLS a `redis://` / `rediss://` URL carries. */
export interface UrlSecurity {
  readonly username?: string;
  readonly password?: string;
  readonly db?: number;
  readonly tls: boolean;
}

/**
 * The credentials, database and TLS of `url` (`rediss:` means TLS). Percent-escapes in the user
 * and password are decoded, as ioredis does for a URL it is given.
 */
export function urlSecurity(url: string): UrlSecurity {
  const parsed = new URL(url);
  const db = parsed.pathname.replace(/^\//, '');
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    tls: parsed.protocol === 'rediss:',
  };
}

/** `host:port` (IPv6 in brackets) as ioredis' `{ host, port }`. */
export function hostAndPort(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (!match) throw new Error(`expected host:port, got "${address}"`);
  return { host: match[1] as string, port: Number(match[2]) };
}

function securityOptions(security: UrlSecurity): RedisOptions {
  return {
    ...(security.username !== undefined ? { username: security.username } : {}),
    ...(security.password !== undefined ? { password: security.password } : {}),
    ...(security.tls ? { tls: {} } : {}),
  };
}

/**
 * The ioredis client for `connection`, with `settings` applied to every server connection it opens
 * (lazy: call `connect()`). Sentinel mode is a `Redis` that asks the Sentinels for the primary and
 * follows failovers; cluster mode a `Cluster` that follows slot moves.
 */
export function openRedis(connection: RedisConnection, settings: RedisConnectionSettings): RedisClient {
  const common: RedisOptions = {
    ...settings.perConnection,
    lazyConnect: true,
    enableAutoPipelining: settings.autoPipelining,
    retryStrategy: settings.retryStrategy,
  };
  switch (connection.mode) {
    case 'standalone':
      return new Redis(connection.url, common);
    case 'sentinel':
      return new Redis(sentinelOptions(connection, common));
    case 'cluster':
      return new Cluster(clusterSeeds(connection), clusterOptions(connection, settings));
  }
}

function sentinelOptions(
  connection: Extract<RedisConnection, { mode: 'sentinel' }>,
  common: RedisOptions,
): RedisOptions {
  const security = urlSecurity(connection.url);
  return {
    ...common,
    ...securityOptions(security),
    ...(security.db !== undefined ? { db: security.db } : {}),
    sentinels: connection.sentinels.map(hostAndPort),
    name: connection.sentinelName,
    ...(security.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    // Sentinels share the data nodes' credentials unless they are configured apart.
    ...(security.password !== undefined ? { sentinelPassword: security.password } : {}),
    ...(security.username !== undefined ? { sentinelUsername: security.username } : {}),
  };
}

function clusterSeeds(connection: Extract<RedisConnection, { mode: 'cluster' }>) {
  const seed = new URL(connection.url);
  return [{ host: seed.hostname, port: Number(seed.port || 6379) }, ...connection.nodes.map(hostAndPort)];
}

function clusterOptions(
  connection: Extract<RedisConnection, { mode: 'cluster' }>,
  settings: RedisConnectionSettings,
): ClusterOptions {
  const { retryStrategy: _perNode, enableOfflineQueue: _queue, ...perNode } = settings.perConnection;
  return {
    lazyConnect: true,
    enableAutoPipelining: settings.autoPipelining,
    // Fail fast while the cluster is (re)discovering its slots, as a lost standalone server does:
    // the alternative is an offline queue with no timeout at all.
    enableOfflineQueue: false,
    clusterRetryStrategy: settings.retryStrategy,
    redisOptions: { ...perNode, ...securityOptions(urlSecurity(connection.url)) },
  };
}
