import {
  propagation,
  type Attributes,
  type Baggage,
  type BaggageEntry,
  type Context,
  type Span,
} from '@opentelemetry/api';

/**
 * Who a call is made for, as the WeChat cloud gateway states it in its `X-WX-*` headers.
 * Every field is optional: server-to-server calls and scheduled jobs carry none of them.
 */
export interface WeChatIdentity {
  openid?: string;
  appid?: string;
  unionid?: string;
  /** Set when one mini-program calls on behalf of a user of another (resource sharing). */
  fromOpenid?: string;
  fromAppid?: string;
  /** Cloud environment id. */
  env?: string;
  /** Which WeChat surface the call came from (e.g. `wx_client`, `wx_devtools`). */
  source?: string;
}

/** A field of {@link WeChatIdentity}. */
export type WeChatField = keyof WeChatIdentity;

/**
 * Where each identity field travels: `header` is the lowercase name used in HTTP headers,
 * gRPC metadata and Kafka record headers; `attribute` is both the span attribute and the
 * baggage key. The gateway spells the headers in upper case (`X-WX-OPENID`); HTTP and gRPC
 * header names are case-insensitive and arrive lowercased, Kafka header names do not, so
 * always use these.
 */
export const WECHAT_HEADERS = {
  openid: { header: 'x-wx-openid', attribute: 'wechat.openid' },
  appid: { header: 'x-wx-appid', attribute: 'wechat.appid' },
  unionid: { header: 'x-wx-unionid', attribute: 'wechat.unionid' },
  fromOpenid: { header: 'x-wx-from-openid', attribute: 'wechat.from_openid' },
  fromAppid: { header: 'x-wx-from-appid', attribute: 'wechat.from_appid' },
  env: { header: 'x-wx-env', attribute: 'wechat.env' },
  source: { header: 'x-wx-source', attribute: 'wechat.source' },
} as const satisfies Record<WeChatField, { header: string; attribute: string }>;

/** Longest identity value accepted; real openids/unionids are 28-29 characters. */
export const WECHAT_VALUE_MAX_LENGTH = 128;

interface FieldSpec {
  readonly field: WeChatField;
  readonly header: string;
  readonly attribute: string;
}

/** Flat copy of the table so the per-call loops do not allocate `Object.entries` arrays. */
const FIELDS: readonly FieldSpec[] = (Object.keys(WECHAT_HEADERS) as WeChatField[]).map((field) => ({
  field,
  ...WECHAT_HEADERS[field],
}));

const IDENTITY_KEYS: ReadonlySet<string> = new Set(FIELDS.map((spec) => spec.attribute));
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/**
 * The accepted form of one identity value, or undefined when it must be dropped: trimmed,
 * 1..128 characters, printable ASCII only (so it can never smuggle a CR/LF into a header).
 */
function clean(raw: string | readonly string[] | undefined): string | undefined {
  const value = typeof raw === 'string' ? raw : raw?.[0];
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed.length === 0 || trimmed.length > WECHAT_VALUE_MAX_LENGTH) return undefined;
  return PRINTABLE_ASCII.test(trimmed) ? trimmed : undefined;
}

/**
 * Reads the identity from incoming headers (gRPC metadata, HTTP headers, Kafka headers).
 * `get` receives the lowercase `x-wx-*` names. A value that is empty, longer than 128
 * characters or not printable ASCII is dropped, never thrown about: an odd header must not
 * fail the call, and nothing unvalidated may reach logs, spans or outgoing headers. For a
 * repeated header the first value counts.
 */
export function wechatFromHeaders(
  get: (name: string) => string | readonly string[] | undefined,
): WeChatIdentity {
  const id: WeChatIdentity = {};
  for (const spec of FIELDS) {
    const value = clean(get(spec.header));
    if (value !== undefined) id[spec.field] = value;
  }
  return id;
}

/**
 * Writes the identity as lowercase `x-wx-*` headers through `set` (gRPC `metadata.set`,
 * `headers.set`, or a Kafka headers record). Values are re-validated, so an identity built
 * by hand cannot inject header syntax; invalid ones are skipped.
 */
export function wechatToHeaders(id: WeChatIdentity, set: (name: string, value: string) => void): void {
  for (const spec of FIELDS) {
    const value = clean(id[spec.field]);
    if (value !== undefined) set(spec.header, value);
  }
}

/**
 * The identity as span attributes (`wechat.openid`, ...), for spans the kit does not create
 * itself. RPC spans from {@link startRpcServerSpan} already carry them.
 */
export function wechatSpanAttributes(id: WeChatIdentity): Attributes {
  const attributes: Attributes = {};
  for (const spec of FIELDS) {
    const value = id[spec.field];
    if (value !== undefined) attributes[spec.attribute] = value;
  }
  return attributes;
}

/** Internal: sets the identity's attributes on a span known to be recording. */
export function setWeChatAttributes(span: Pick<Span, 'setAttribute'>, id: WeChatIdentity | undefined): void {
  if (id === undefined) return;
  for (const spec of FIELDS) {
    const value = id[spec.field];
    if (value !== undefined) span.setAttribute(spec.attribute, value);
  }
}

/**
 * Returns `ctx` with the identity in its baggage (keys `wechat.openid`, ...), so it follows
 * the call into every span, log line, outgoing call and Kafka record made under that context.
 * The identity replaces all seven `wechat.*` identity entries already there, including ones
 * that arrived in a `baggage` header, which nobody vouches for (only the `x-wx-*` headers are
 * policed by the mesh): a field absent from `id` is removed. Other baggage entries are kept.
 * Returns `ctx` itself when nothing changes, which is the common case on the server path.
 */
export function withWeChatBaggage(ctx: Context, id: WeChatIdentity): Context {
  const baggage = propagation.getBaggage(ctx);
  if (baggage === undefined ? isEmpty(id) : sameIdentity(baggage, id)) return ctx;
  const entries: Record<string, BaggageEntry> = {};
  if (baggage !== undefined) {
    for (const [key, entry] of baggage.getAllEntries()) {
      if (!IDENTITY_KEYS.has(key)) entries[key] = entry;
    }
  }
  for (const spec of FIELDS) {
    const value = clean(id[spec.field]);
    if (value !== undefined) entries[spec.attribute] = { value };
  }
  return propagation.setBaggage(ctx, propagation.createBaggage(entries));
}

/**
 * The identity carried in `ctx`'s baggage (see {@link withWeChatBaggage}); empty when there
 * is none. Use it where no served call is at hand, e.g. in a Kafka consumer or a worker.
 */
export function wechatFromBaggage(ctx: Context): WeChatIdentity {
  const id: WeChatIdentity = {};
  const baggage = propagation.getBaggage(ctx);
  if (baggage === undefined) return id;
  for (const spec of FIELDS) {
    const value = clean(baggage.getEntry(spec.attribute)?.value);
    if (value !== undefined) id[spec.field] = value;
  }
  return id;
}

function isEmpty(id: WeChatIdentity): boolean {
  for (const spec of FIELDS) if (id[spec.field] !== undefined) return false;
  return true;
}

/** True when the baggage holds exactly the identity's fields, unchanged and without metadata. */
function sameIdentity(baggage: Baggage, id: WeChatIdentity): boolean {
  for (const spec of FIELDS) {
    const entry = baggage.getEntry(spec.attribute);
    const value = id[spec.field];
    if (entry === undefined ? value !== undefined : entry.value !== value || entry.metadata !== undefined) {
      return false;
    }
  }
  return true;
}
