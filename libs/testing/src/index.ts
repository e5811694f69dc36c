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
export { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';
export { collectTopic, waitForTopic, type TopicCollector } from './kafka-topic.js';
export { freePort } from './free-port.js';
export {
  serviceNodeOptions,
  startServiceProcess,
  startServiceProcesses,
  type ServiceProcess,
  type ServiceStart,
  type StartServiceOptions,
} from './service-process.js';
export {
  TIMEOUT_SCALE_ENV,
  scaledDeadline,
  scaledTimeout,
  loadScaledBound,
  timeoutScale,
  type MachineLoad,
  type ScaledDeadline,
  type TimeoutScaleOptions,
} from './timeout-scale.js';
export { onExitCleanup } from './exit-cleanup.js';
export { ensureGrpcurl } from './host-tools.js';
export {
  asGatewayUser,
  asPeer,
  withBearer,
  withHeaders,
  type HeaderInterceptor,
  type TestIdentity,
} from './callers.js';
