import { CommandTimeoutDuringMaintenanceError, MaxRetriesPerRequestError, type RedisOptions } from 'ioredis';
import { openRedis, type RedisClient, type RedisConnection } from './redis-connection.js';

/** The part of a pino logger the client writes to. */
export interface RedisLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
}

/** Options of {@link createRedisClient}, whichever way the server is named. */
export interface RedisClientSettings {
  /** Names the connection in logs and in Redis' `CLIENT LIST` (e.g. `session`, `router-reader`). */
  readonly name: string;
  readonly logger: RedisLogger;
  /**
   * How long a command may wait on a server that is unreachable or not answering (down, frozen,
   * failing over) before it fails with an error {@link isRedisUnavailable} recognises. ioredis'
   * default is to queue commands offline and retry them 20 times, so a call waited its whole
   * deadline for a Redis that was gone.
   */
  readonly timeoutMs: number;
  /**
   * `blocking` for a connection that runs long blocking reads (`XREADGROUP … BLOCK`): a command
   * timeout would cut every read, so the wait is bounded by the read's own BLOCK time plus
   * `timeoutMs` instead.
   */
  readonly role?: 'commands' | 'blocking';
  /** Batches commands issued in the same tick into one write (see ioredis' auto-pipelining). */
  readonly autoPipelining?: boolean;
}

/** Options of {@link createRedisClient}: the server in any mode (standalone, Sentinel, Cluster). */
export interface RedisClientOptions extends RedisClientSettings {
  /**
   * From `@wxmesh/config`'s `redisConnection(config)`, or `{ mode: 'standalone', url }`; its URL may
   * carry a password, so it is never logged.
   */
  readonly connection: RedisConnection;
}

/** How often a lost connection is retried: quickly at first, then every second at most. */
function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 5), 1_000);
}

/**
 * A Redis client with bounded offline behaviour and structured error logs; call `connect()` on it.
 *
 * - Every command fails after `timeoutMs` when the server does not answer, whether the connection
 *   is down (the offline queue) or up and frozen, and a command is retried on one reconnection at
 *   most. The kit maps those failures to Unavailable through {@link isRedisUnavailable}.
 * - Connection errors go to the logger as one warn line per distinct failure (not ioredis'
 *   `[ioredis] Unhandled error event` on stderr), and recovery is logged once.
 * - The same holds in every mode: Sentinel returns a `Redis` that follows the primary, Cluster a
 *   `Cluster` whose every node connection has these bounds and which fails commands at once (no
 *   offline queue) while it rediscovers its slots.
 */
export function createRedisClient(options: RedisClientOptions): RedisClient {
  const client = openRedis(options.connection, {
    perConnection: perConnectionOptions(options),
    retryStrategy: reconnectDelay,
    autoPipelining: options.autoPipelining ?? false,
  });
  logConnectionState(client, options);
  return client;
}

/** The bounds every server connection gets, in every mode. */
function perConnectionOptions(options: RedisClientSettings): RedisOptions {
  const blocking = options.role === 'blocking';
  return {
    connectionName: options.name,
    maxRetriesPerRequest: 1,
    connectTimeout: Math.max(options.timeoutMs, 1_000),
    ...(blocking
      ? { blockingTimeout: options.timeoutMs, blockingTimeoutGrace: options.timeoutMs }
      : { commandTimeout: options.timeoutMs }),
  };
}

function logConnectionState(client: RedisClient, options: RedisClientSettings): void {
  const { logger, name } = options;
  let lastError: string | undefined;
  client.on('error', (err: Error) => {
    // ioredis reports the same failure on every reconnection attempt: log each distinct one once.
    const described = `${err.name}: ${err.message}`;
    if (described === lastError) return;
    lastError = described;
    logger.warn(
      { dependency: 'redis', connection: name, err: describeError(err) },
      'redis connection failed',
    );
  });
  client.on('ready', () => {
    if (lastError === undefined) return;
    lastError = undefined;
    logger.info({ dependency: 'redis', connection: name }, 'redis connection restored');
  });
}

/** An error's name, message and code only: never its stack or the command's arguments. */
function describeError(err: Error): Record<string, unknown> {
  return { type: err.name, message: err.message, code: (err as { code?: unknown }).code };
}

/** The messages ioredis gives failures that mean "the server cannot be reached right now". */
const UNAVAILABLE_MESSAGES = new Set([
  'Command timed out',
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
  // A Cluster rediscovering its slots (a failover, every node lost) with its offline queue off.
  "Cluster isn't ready and enableOfflineQueue options is false",
]);

/**
 * True when `err` is ioredis saying the server is out of reach (timed out, connection closed, retries
 * used up), as opposed to a command error (WRONGTYPE, a script's own error). The error classes
 * ioredis exports are recognised by class; it raises plain `Error`s for the rest, so their messages
 * are matched here, in the one module that knows ioredis; the spec pins each against a real server.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (err instanceof MaxRetriesPerRequestError || err instanceof CommandTimeoutDuringMaintenanceError)
    return true;
  if (!(err instanceof Error)) return false;
  // ioredis does not export ClusterAllFailedError (only its internal built/errors module has it).
  if (err.name === 'ClusterAllFailedError') return true;
  return UNAVAILABLE_MESSAGES.has(err.message) || /^connect (ECONNREFUSED|ETIMEDOUT)/.test(err.message);
}

/**
 * A readiness probe for {@link createRedisClient}'s client: resolves when the server answers a PING
 * (bounded by the client's own command timeout), rejects otherwise.
 */
export async function pingRedis(client: RedisClient): Promise<void> {
  const reply = await client.ping();
  if (reply !== 'PONG') throw new Error(`unexpected PING reply ${reply}`);
}

/**
 * The client as a dependency of a served process (the kit's `Dependency` shape): readiness pings
 * it, and its out-of-reach failures are answered Unavailable.
 */
export function redisDependency(client: RedisClient) {
  return {
    name: 'redis',
    check: () => pingRedis(client),
    isUnavailable: isRedisUnavailable,
  };
}
