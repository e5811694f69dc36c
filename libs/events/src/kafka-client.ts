import kafkajs, { type Kafka, type logCreator } from 'kafkajs';
import { kafkaConnectionOptions, type KafkaSecurityConfig } from './kafka-security.js';
import type { EventsLogger } from './logger.js';

/**
 * Routes kafkajs's own log lines into the service's logger, so they are JSON lines like every
 * other (with the active trace ids and the same redaction) instead of kafkajs's separate format.
 *
 * kafkajs logs ERROR for every attempt it is about to retry (a broker still electing a leader, a
 * coordinator loading); the operation's final failure reaches the caller, which reports it. So
 * kafkajs ERROR and WARN become `warn` here, INFO becomes `info`.
 */
export function kafkaLogCreator(logger: EventsLogger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const {
        message,
        timestamp: _timestamp,
        logger: _logger,
        ...fields
      } = log as Record<string, unknown> & {
        message: string;
      };
      const entry = { kafka: namespace, ...fields };
      if (level === kafkajs.logLevel.INFO) logger.info(entry, message);
      else if (level !== kafkajs.logLevel.DEBUG) logger.warn(entry, message);
    };
}

/** A service config's Kafka fields: the bootstrap brokers and how to reach them. */
export interface KafkaClientConfig extends KafkaSecurityConfig {
  readonly KAFKA_BROKERS: readonly string[];
}

/**
 * Where the client connects: a service passes its whole `config` (`KAFKA_BROKERS`, and
 * `KAFKA_SECURITY`, `KAFKA_SASL_*`, `KAFKA_TLS_*` for TLS, mTLS and SASL); tools and tests may pass
 * `brokers` and, optionally, `security` instead.
 */
export type KafkaClientTarget =
  | { config: KafkaClientConfig; brokers?: never; security?: never }
  | { brokers: string[]; security?: KafkaSecurityConfig; config?: never };

/**
 * The kafkajs client a service produces and consumes with: its logs go through `logger` (WARN and
 * above by default). The security settings' files are read here, so a bad setting throws a
 * `KafkaSecurityConfigError` naming the variable before anything connects.
 */
export function createKafka(
  options: KafkaClientTarget & {
    clientId: string;
    logger: EventsLogger;
    /** kafkajs log level; default WARN. */
    logLevel?: kafkajs.logLevel;
  },
): Kafka {
  const security = options.config ?? options.security ?? {};
  return new kafkajs.Kafka({
    clientId: options.clientId,
    brokers: options.config ? [...options.config.KAFKA_BROKERS] : options.brokers,
    ...kafkaConnectionOptions(security),
    logLevel: options.logLevel ?? kafkajs.logLevel.WARN,
    logCreator: kafkaLogCreator(options.logger),
  });
}
