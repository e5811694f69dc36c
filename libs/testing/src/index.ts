export { startRedis, type RedisServer, type StartRedisOptions } from './redis.js';
export {
  DEFAULT_KAFKA_VERSION,
  installKafka,
  kafkaVersion,
  startKafka,
  type KafkaBroker,
  type KafkaInstallation,
  type StartKafkaOptions,
} from './kafka.js';
export { startInfra, type Infra, type InfraOptions } from './infra.js';
export { waitFor, type WaitForOptions } from './wait-for.js';
export { collectTopic, waitForTopic, type TopicCollector } from './kafka-topic.js';
export { freePort } from './free-port.js';
export {
  serviceNodeOptions,
  startServiceProcess,
  type ServiceProcess,
  type StartServiceOptions,
} from './service-process.js';
export {
  asGatewayUser,
  asPeer,
  withBearer,
  withHeaders,
  type HeaderInterceptor,
  type TestIdentity,
} from './callers.js';
