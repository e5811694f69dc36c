import { kafkaVersion, startKafka, type KafkaBroker, type StartKafkaOptions } from './kafka.js';
import { startRedis, type RedisServer, type StartRedisOptions } from './redis.js';

/** What {@link startInfra} should provide; both default to true. */
export interface InfraOptions {
  redis?: boolean;
  kafka?: boolean;
  /** Where REDIS_URL / KAFKA_BROKERS are read from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  redisOptions?: StartRedisOptions;
  kafkaOptions?: StartKafkaOptions;
  /**
   * Progress lines while the servers start, for an interactive run (`npm start`): each server's
   * start, a heartbeat while it takes long, its readiness and time, and the first Kafka start's
   * download from Maven Central. Default: none (downloads and installs still go to stderr).
   */
  progress?: (line: string) => void;
  /** Abandons the start: whatever started is stopped and the promise rejects with the reason. */
  signal?: AbortSignal;
}

// A URL is there when the flag is omitted or true, absent when it is false, maybe there when only known at run time.
type Provided<O, K extends 'redis' | 'kafka'> = K extends keyof O
  ? [O[K]] extends [false]
    ? undefined
    : [O[K]] extends [true | undefined]
      ? string
      : string | undefined
  : string;

/** Only what decides which URLs are there, so `Infra<{ redis: true; kafka: true }>` names any such result. */
type Provides<O> = { [K in 'redis' | 'kafka' as K extends keyof O ? K : never]: O[K & keyof O] };

/** Redis and Kafka for a test run: given by the environment, or started here. */
export interface Infra<O extends InfraOptions = InfraOptions> {
  /** REDIS_URL as given, or the URL of the server started here; undefined when `redis: false`. */
  redisUrl: Provided<O, 'redis'>;
  /** KAFKA_BROKERS as given, or the broker started here; undefined when `kafka: false`. */
  kafkaBrokers: Provided<O, 'kafka'>;
  /** The servers this call started (none when the environment provided them). */
  started: { redis?: RedisServer; kafka?: KafkaBroker };
  /** Stops what this call started; never touches servers given by the environment. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Reports one server's start on `progress`: that it started, a line every 15 s while it is still
 * starting (a first Kafka start on a busy machine takes minutes, and silence looks like a hang),
 * and how long it took, or that it failed or was abandoned (aborted, or the other start failed).
 */
async function reportStart<T>(
  what: string,
  start: Promise<T>,
  ready: (server: T) => string,
  progress: ((line: string) => void) | undefined,
  abandoned: AbortSignal,
): Promise<T> {
  if (!progress) return start;
  const began = Date.now();
  const seconds = () => `${((Date.now() - began) / 1000).toFixed(1)} s`;
  progress(`${what}: starting...`);
  const heartbeat = setInterval(() => progress(`${what}: still starting (${seconds()})`), 15_000);
  heartbeat.unref();
  try {
    const server = await start;
    progress(`${what}: ${ready(server)} (took ${seconds()})`);
    return server;
  } catch (err) {
    const why = abandoned.aborted && err === abandoned.reason ? 'abandoned' : 'failed';
    progress(`${what}: ${why} after ${seconds()}`);
    throw err;
  } finally {
    clearInterval(heartbeat);
  }
}

/**
 * Gives a test run its Redis and Kafka. When `REDIS_URL` / `KAFKA_BROKERS` are set they are used
 * as they are and nothing is started (that is how `npm test` shares one Redis and one broker with
 * every project); otherwise real servers are started on free loopback ports, in parallel, each
 * within a load-scaled limit. It fails fast: the first start that fails aborts the other, and
 * whatever did start is stopped before the error is thrown; so does aborting `signal`. The caller
 * must call `stop()`.
 */
export async function startInfra<const O extends InfraOptions = Record<never, never>>(
  // `& InfraOptions`: callbacks such as `progress` get their parameter types from it.
  options: O & InfraOptions = {} as O,
): Promise<Infra<Provides<O>>> {
  const env = options.env ?? process.env;
  const { progress } = options;
  const givenRedis = (options.redis ?? true) ? env.REDIS_URL?.trim() || undefined : undefined;
  const givenKafka = (options.kafka ?? true) ? env.KAFKA_BROKERS?.trim() || undefined : undefined;
  const abort = new AbortController();
  const onAbort = () => abort.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  const kafkaName = `Kafka ${options.kafkaOptions?.version ?? kafkaVersion(env)}`;
  const starts = [
    (options.redis ?? true) && !givenRedis
      ? reportStart(
          'Redis',
          startRedis({ log: progress, ...options.redisOptions, signal: abort.signal }),
          (redis) => `ready at ${redis.url}`,
          progress,
          abort.signal,
        )
      : undefined,
    (options.kafka ?? true) && !givenKafka
      ? reportStart(
          kafkaName,
          startKafka({ log: progress, ...options.kafkaOptions, signal: abort.signal }),
          (kafka) => `ready at ${kafka.brokers}`,
          progress,
          abort.signal,
        )
      : undefined,
  ] as const;
  // Fail fast: the first failure aborts the other start (it stops whatever it had spawned).
  for (const start of starts) start?.catch((err: unknown) => abort.abort(err));
  const [redis, kafka] = await Promise.allSettled(starts);
  options.signal?.removeEventListener('abort', onAbort);
  const started = {
    redis: redis.status === 'fulfilled' ? redis.value : undefined,
    kafka: kafka.status === 'fulfilled' ? kafka.value : undefined,
  };
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= Promise.all([started.redis?.stop(), started.kafka?.stop()]).then(() => undefined));

  // The start that was aborted rejects with the other's error: report each cause once.
  const failures = [
    ...new Set([redis, kafka].filter((r) => r.status === 'rejected').map((r) => r.reason as Error)),
  ];
  if (failures.length > 0) {
    await stop();
    throw failures.length === 1
      ? failures[0]
      : new AggregateError(failures, failures.map((e) => e.message).join('\n'));
  }
  return {
    redisUrl: (givenRedis ?? started.redis?.url) as Provided<Provides<O>, 'redis'>,
    kafkaBrokers: (givenKafka ?? started.kafka?.brokers) as Provided<Provides<O>, 'kafka'>,
    started: Object.fromEntries(Object.entries(started).filter(([, v]) => v)) as Infra['started'],
    stop,
  };
}
