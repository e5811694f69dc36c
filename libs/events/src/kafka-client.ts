import kafkajs, { type Kafka, type logCreator } from 'kafkajs';
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

/**
 * The kafkajs client a service produces and consumes with: its logs go through `logger` (WARN and
 * above by default).
 */
export function createKafka(options: {
  clientId: string;
  brokers: string[];
  logger: EventsLogger;
  /** kafkajs log level; default WARN. */
  logLevel?: kafkajs.logLevel;
}): Kafka {
  return new kafkajs.Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: options.logLevel ?? kafkajs.logLevel.WARN,
    logCreator: kafkaLogCreator(options.logger),
  });
}
