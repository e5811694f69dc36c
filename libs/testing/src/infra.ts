import { startKafka, type KafkaBroker, type StartKafkaOptions } from './kafka.js';
import { startRedis, type RedisServer, type StartRedisOptions } from './redis.js';

/** What {@link startInfra} should provide; both default to true. */
export interface InfraOptions {
  redis?: boolean;
  kafka?: boolean;
  /** Where REDIS_URL / KAFKA_BROKERS are read from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  redisOptions?: StartRedisOptions;
  kafkaOptions?: StartKafkaOptions;
}

// A URL is there when the flag is omitted or true, absent when it is false, maybe there when only known at run time.
type Provided<O, K extends 'redis' | 'kafka'> = K extends keyof O
  ? [O[K]] extends [false]
    ? undefined
    : [O[K]] extends [true | undefined]
      ? string
      : string | undefined
  : string;

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
 * Gives a test run its Redis and Kafka. When `REDIS_URL` / `KAFKA_BROKERS` are set they are used
 * as they are and nothing is started (that is how `npm test` shares one Redis and one broker with
 * every project); otherwise real servers are started on free loopback ports, in parallel. If one
 * start fails the other is stopped before the error is thrown. The caller must call `stop()`.
 */
export async function startInfra<const O extends InfraOptions = Record<never, never>>(
  options: O = {} as O,
): Promise<Infra<O>> {
  const env = options.env ?? process.env;
  const wantRedis = options.redis ?? true;
  const wantKafka = options.kafka ?? true;
  const givenRedis = wantRedis ? env.REDIS_URL?.trim() || undefined : undefined;
  const givenKafka = wantKafka ? env.KAFKA_BROKERS?.trim() || undefined : undefined;

  const [redis, kafka] = await Promise.allSettled([
    wantRedis && !givenRedis ? startRedis(options.redisOptions) : undefined,
    wantKafka && !givenKafka ? startKafka(options.kafkaOptions) : undefined,
  ]);
  const started = {
    redis: redis.status === 'fulfilled' ? redis.value : undefined,
    kafka: kafka.status === 'fulfilled' ? kafka.value : undefined,
  };
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= Promise.all([started.redis?.stop(), started.kafka?.stop()]).then(() => undefined));

  const failures = [redis, kafka].filter((r) => r.status === 'rejected').map((r) => r.reason as Error);
  if (failures.length > 0) {
    await stop();
    throw failures.length === 1
      ? failures[0]
      : new AggregateError(failures, failures.map((e) => e.message).join('\n'));
  }
  return {
    redisUrl: (givenRedis ?? started.redis?.url) as Provided<O, 'redis'>,
    kafkaBrokers: (givenKafka ?? started.kafka?.brokers) as Provided<O, 'kafka'>,
    started: Object.fromEntries(Object.entries(started).filter(([, v]) => v)) as Infra['started'],
    stop,
  };
}
