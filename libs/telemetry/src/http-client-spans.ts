import { context, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { setWeChatAttributes, wechatFromBaggage } from './wechat-identity.js';

const TRACER = trace.getTracer('@wxmesh/telemetry/http-client', '0.1.0');

/** One outbound HTTP call to a third party, as {@link tracedHttpCall} records it. */
export interface HttpClientCall {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Where the call goes; only its scheme, host and port are recorded (see {@link tracedHttpCall}). */
  readonly url: URL;
  /** The path without its query (`/sns/jscode2session`): `url.template` and the span's name. */
  readonly template: string;
}

/** What the call reports back onto its span before it ends. */
export interface HttpClientSpan {
  /** The response's status code (`http.response.status_code`; 4xx and 5xx mark the span an error). */
  status(code: number): void;
  /** An attribute the caller knows, such as `wechat.errcode`; never a secret. */
  set(key: string, value: string | number | boolean): void;
  /** Marks the call failed with a short, secret-free type (`WeChatApiError`, `timeout`). */
  fail(type: string): void;
}

/**
 * Runs `call` inside a CLIENT span named `<METHOD> <template>` (`GET /sns/jscode2session`), with
 * the HTTP client semantic-convention attributes and the WeChat identity of the served call
 * (from baggage). The full URL is never recorded: WeChat's query strings carry the AppSecret,
 * the js_code and access tokens, so only `url.template`, `server.address` and `server.port` are.
 * The span is ended however the call settles; a rejection marks it an error by its type name
 * only (error messages may quote a response).
 */
export async function tracedHttpCall<T>(
  request: HttpClientCall,
  call: (span: HttpClientSpan) => Promise<T>,
): Promise<T> {
  const parent = context.active();
  const span = TRACER.startSpan(`${request.method} ${request.template}`, { kind: SpanKind.CLIENT }, parent);
  if (!span.isRecording()) {
    span.end();
    return call(NOOP_SPAN);
  }
  const port = request.url.port || (request.url.protocol === 'https:' ? '443' : '80');
  span.setAttributes({
    'http.request.method': request.method,
    'url.template': request.template,
    'url.scheme': request.url.protocol.replace(/:$/, ''),
    'server.address': request.url.hostname,
    'server.port': Number(port),
  });
  setWeChatAttributes(span, wechatFromBaggage(parent));
  const recorded = recorder(span);
  try {
    return await context.with(trace.setSpan(parent, span), () => call(recorded));
  } catch (err) {
    // The first failure named wins (a caller's fail('timeout') over the AbortError it causes).
    recorded.fail(err instanceof Error ? err.name : typeof err);
    throw err;
  } finally {
    span.end();
  }
}

function recorder(span: Span): HttpClientSpan {
  let failed = false;
  const fail = (type: string) => {
    if (failed) return;
    failed = true;
    const safe = /^[\w.-]{1,64}$/.test(type) ? type : 'Error';
    span.setAttribute('error.type', safe);
    span.setStatus({ code: SpanStatusCode.ERROR, message: safe });
  };
  return {
    status(code) {
      span.setAttribute('http.response.status_code', code);
      if (code >= 400) fail(String(code));
    },
    set(key, value) {
      span.setAttribute(key, value);
    },
    fail,
  };
}

const NOOP_SPAN: HttpClientSpan = { status() {}, set() {}, fail() {} };
