export {
  BEHAVIOUR_DLQ_TOPIC,
  BEHAVIOUR_TOPIC,
  ensureBehaviourTopics,
  type EnsuredBehaviourTopics,
  type EnsuredTopic,
  type EnsureTopicsOptions,
} from './topics.js';
export {
  behaviourEvent,
  decodeBehaviourEvent,
  encodeBehaviourEvent,
  eventType,
  InvalidBehaviourEventError,
  SCHEMA_VERSION,
  validateBehaviourEvent,
  type BehaviourEventInit,
  type BehaviourPayload,
  type BehaviourPayloadInit,
  type EventViolation,
} from './envelope.js';
export {
  connectEventProducer,
  createEventProducer,
  EventsNotAcknowledgedError,
  type EventProducer,
  type EventProducerOptions,
} from './producer.js';
export type { EventsLogger } from './logger.js';
export {
  createEventConsumer,
  DLQ_HEADERS,
  KNOWN_EVENT_TYPES,
  type ConsumedEvent,
  type EventConsumer,
  type EventConsumerOptions,
} from './consumer.js';
export {
  createKafka,
  kafkaLogCreator,
  type KafkaClientConfig,
  type KafkaClientTarget,
} from './kafka-client.js';
export {
  kafkaConnectionOptions,
  KafkaSecurityConfigError,
  type KafkaConnectionOptions,
  type KafkaSaslMechanism,
  type KafkaSecurityConfig,
  type KafkaSecurityProtocol,
} from './kafka-security.js';
