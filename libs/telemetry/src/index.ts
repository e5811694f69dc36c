export {
  initTelemetry,
  otlpTracesUrl,
  telemetryOptionsFromEnv,
  tracingEnabled,
  type Telemetry,
  type TelemetryOptions,
} from './init-telemetry.js';
export {
  WECHAT_HEADERS,
  WECHAT_VALUE_MAX_LENGTH,
  wechatFromBaggage,
  wechatFromHeaders,
  wechatSpanAttributes,
  wechatToHeaders,
  withWeChatBaggage,
  type WeChatField,
  type WeChatIdentity,
} from './wechat-identity.js';
export {
  endRpcSpan,
  parsePeer,
  startRpcClientSpan,
  startRpcServerSpan,
  type RpcPeer,
  type RpcSpan,
  type RpcSpanEnd,
  type RpcSpanOptions,
  type RpcSystem,
} from './rpc-spans.js';
export {
  extractContext,
  extractKafkaContext,
  injectHeaders,
  injectKafkaHeaders,
  type HeaderGetter,
  type HeaderSetter,
  type KafkaHeaders,
} from './propagation.js';
export { registeredCounter, registeredGauge, registeredHistogram } from './metrics.js';
export { tracedHttpCall, type HttpClientCall, type HttpClientSpan } from './http-client-spans.js';
export { tracedWebhook } from './http-server-spans.js';
