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
export type { KafkaSaslSslListener, KafkaSaslSslOptions } from './kafka-secure-listener.js';
export { startInfra, type Infra, type InfraOptions } from './infra.js';
export { waitFor, type WaitForOptions } from './wait-for.js';
export { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';
export { grpcFrame, rawGrpcCall, type RawGrpcAnswer } from './raw-grpc.js';
export { codeOf, metricSum } from './rpc-outcome.js';
export { peerClient } from './peer-client.js';
export { collectTopic, testKafka, waitForTopic, type TopicCollector } from './kafka-topic.js';
export { freePort } from './free-port.js';
export {
  serviceNodeOptions,
  startServiceProcess,
  startServiceProcesses,
  stopProcesses,
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
export {
  ensureGoTool,
  ensureGrpcurl,
  ensureKustomize,
  findCommand,
  GRPCURL,
  KUSTOMIZE,
  type GoTool,
} from './host-tools.js';
export { sandboxControl } from './sandbox-control.js';
export {
  asGatewayUser,
  asPeer,
  withBearer,
  withHeaders,
  type HeaderInterceptor,
  type TestIdentity,
} from './callers.js';
export {
  JAEGER_VERSION,
  ensureJaeger,
  findCachedJaeger,
  jaegerBinaryPath,
  type EnsureJaegerOptions,
} from './jaeger-build.js';
export { jaegerConfig, startJaeger, type JaegerServer, type StartJaegerOptions } from './jaeger.js';
export {
  fetchJaegerTrace,
  traceServices,
  waitForJaegerTrace,
  type JaegerProcess,
  type JaegerReference,
  type JaegerSpan,
  type JaegerTag,
  type JaegerTrace,
  type WaitForJaegerTraceOptions,
} from './jaeger-trace.js';
export { formatTraceTree } from './jaeger-trace-tree.js';
export { startRedisCluster, type RedisCluster, type StartRedisClusterOptions } from './redis-cluster.js';
export { startRedisSentinel, type RedisSentinel } from './redis-sentinel.js';
