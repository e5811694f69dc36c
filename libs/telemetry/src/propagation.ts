import {
  context,
  propagation,
  ROOT_CONTEXT,
  type Context,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import {
  wechatFromBaggage,
  wechatFromHeaders,
  wechatToHeaders,
  type WeChatIdentity,
  withWeChatBaggage,
} from './wechat-identity.js';

/** Reads one header by its lowercase name; repeated headers may be returned as an array. */
export type HeaderGetter = (name: string) => string | readonly string[] | undefined;
/** Writes one header (gRPC `metadata.set`, `headers.set`, a record assignment). */
export type HeaderSetter = (name: string, value: string) => void;

/** Kafka record headers as kafkajs delivers them. */
export type KafkaHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

// The carrier is the accessor function itself, so one getter/setter object serves every call.
const GETTER: TextMapGetter<HeaderGetter> = {
  get: (get, key) => get(key) as string | string[] | undefined,
  keys: () => [],
};
const SETTER: TextMapSetter<HeaderSetter> = {
  set: (set, key, value) => set(key, value),
};

/**
 * Writes the W3C `traceparent`, `tracestate` and `baggage` headers for `ctx` through `set`,
 * using the propagators {@link initTelemetry} registered (also when tracing is off, so an
 * incoming trace is passed on). It does not write the `x-wx-*` identity headers: a client
 * may deliberately call on behalf of someone other than the context's user, so the caller
 * writes those with {@link wechatToHeaders}. Never inject into calls leaving the mesh (the
 * WeChat APIs): baggage carries the openid.
 */
export function injectHeaders(set: HeaderSetter, ctx: Context = context.active()): void {
  propagation.inject(ctx, set, SETTER);
}

/**
 * Restores what an incoming request carries: the remote parent span (`traceparent`,
 * `tracestate`), the `baggage` entries, and the WeChat identity from the `x-wx-*` headers,
 * which replaces any `wechat.*` entries of the `baggage` header (only the `x-wx-*` headers
 * are policed by the mesh). Extracts into `base`, the root context by default, so a request
 * never inherits whatever happened to be active when it arrived. A caller that has already
 * parsed the identity from the same headers passes it as `wechat` instead of parsing twice.
 */
export function extractContext(
  get: HeaderGetter,
  base: Context = ROOT_CONTEXT,
  wechat: WeChatIdentity = wechatFromHeaders(get),
): Context {
  return withWeChatBaggage(propagation.extract(base, get, GETTER), wechat);
}

/**
 * Adds `traceparent`, `tracestate`, `baggage` and the `x-wx-*` identity (taken from the
 * context's baggage) to a Kafka record's headers, so the consumer continues the trace and
 * knows whose event it is. Mutates and returns `headers`.
 */
export function injectKafkaHeaders(
  headers: Record<string, string | Buffer>,
  ctx: Context = context.active(),
): Record<string, string | Buffer> {
  const set: HeaderSetter = (name, value) => {
    headers[name] = value;
  };
  propagation.inject(ctx, set, SETTER);
  wechatToHeaders(wechatFromBaggage(ctx), set);
  return headers;
}

/**
 * The context a Kafka consumer should process a record under: its producer's span as the
 * remote parent, its baggage, and the WeChat identity from its `x-wx-*` headers. Accepts
 * kafkajs's Buffer header values (decoded as UTF-8) and repeated headers.
 */
export function extractKafkaContext(headers: KafkaHeaders, base: Context = ROOT_CONTEXT): Context {
  return extractContext((name) => decodeKafkaHeader(headers[name]), base);
}

function decodeKafkaHeader(value: KafkaHeaders[string]): string | string[] | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return value.map((item) => (typeof item === 'string' ? item : item.toString('utf8')));
}
