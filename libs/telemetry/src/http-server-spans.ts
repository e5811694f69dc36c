import type { IncomingHttpHeaders } from 'node:http';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

const TRACER = trace.getTracer('@wxmesh/telemetry/http-server', '0.1.0');

/**
 * Runs a webhook handler (WeChat Pay's notify, WeChat's message push) inside a SERVER span named
 * `<METHOD> <route>`, so what it does — Redis, the Kafka record it produces — is one trace. The
 * sender's W3C `traceparent` is continued when present (WeChat sends none; the local sandbox
 * forwards its caller's); its `baggage` and `X-WX-*` are not believed: a webhook comes from the
 * internet, and the handler learns the user from the verified payload. `http.response.status_code`
 * is read from `res` when the handler is done; 5xx marks the span an error.
 */
export async function tracedWebhook(
  req: { readonly method?: string; readonly headers: IncomingHttpHeaders },
  res: { readonly statusCode: number },
  route: string,
  handle: () => Promise<void>,
): Promise<void> {
  const remote = propagation.extract(ROOT_CONTEXT, req.headers, {
    keys: (carrier) => Object.keys(carrier),
    get: (carrier, key) => (key === 'traceparent' || key === 'tracestate' ? first(carrier[key]) : undefined),
  });
  const method = req.method ?? 'POST';
  const span = TRACER.startSpan(`${method} ${route}`, { kind: SpanKind.SERVER }, remote);
  span.setAttribute('http.request.method', method);
  span.setAttribute('http.route', route);
  try {
    await context.with(trace.setSpan(remote, span), handle);
  } finally {
    span.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode >= 500) {
      span.setAttribute('error.type', String(res.statusCode));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
