import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { initTelemetry, tracedHttpCall, withWeChatBaggage, type Telemetry } from './index.js';

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let server: Server;
let base: string;

before(async () => {
  telemetry = await initTelemetry({ serviceName: 'auth-verify', exporter, spanProcessor: 'simple' });
  // A stand-in for WeChat: errcode 40029 for one code, a session for the rest, 503 on /down.
  server = createServer((req, res) => {
    if (req.url?.startsWith('/down')) return void res.writeHead(503).end();
    const bad = req.url?.includes('js_code=bad');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(bad ? { errcode: 40029, errmsg: 'invalid code' } : { openid: 'o_1' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await telemetry.shutdown();
  await new Promise((resolve) => server.close(resolve));
});
afterEach(() => exporter.reset());

async function only(): Promise<ReadableSpan> {
  await telemetry.forceFlush();
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.length, 1, `expected one span, got ${spans.map((s) => s.name).join(', ')}`);
  return spans[0]!;
}

/** A jscode2session-shaped call, its secrets in the query as WeChat wants them. */
function jscode2session(code: string) {
  const url = new URL(`${base}/sns/jscode2session`);
  url.search = new URLSearchParams({ appid: 'wx1', secret: 'APP-SECRET-123', js_code: code }).toString();
  return tracedHttpCall({ method: 'GET', url, template: '/sns/jscode2session' }, async (span) => {
    const res = await fetch(url);
    span.status(res.status);
    const json = (await res.json()) as { errcode?: number };
    if (json.errcode) {
      span.set('wechat.errcode', json.errcode);
      throw Object.assign(new Error(`jscode2session: ${json.errcode}`), { name: 'WeChatApiError' });
    }
    return json;
  });
}

describe('tracedHttpCall', () => {
  it('records a CLIENT span named by method and path, with the caller identity and no query', async () => {
    const parent = withWeChatBaggage(context.active(), { openid: 'o_caller', appid: 'wx1' });
    const answer = await context.with(parent, () => jscode2session('good'));
    assert.deepEqual(answer, { openid: 'o_1' });
    const span = await only();
    assert.equal(span.name, 'GET /sns/jscode2session');
    assert.equal(span.kind, SpanKind.CLIENT);
    assert.equal(span.status.code, SpanStatusCode.UNSET);
    assert.deepEqual(span.attributes, {
      'http.request.method': 'GET',
      'url.template': '/sns/jscode2session',
      'url.scheme': 'http',
      'server.address': '127.0.0.1',
      'server.port': Number(new URL(base).port),
      'http.response.status_code': 200,
      'wechat.openid': 'o_caller',
      'wechat.appid': 'wx1',
    });
    const recorded = JSON.stringify(span.attributes);
    for (const secret of ['APP-SECRET-123', 'good', 'js_code'])
      assert.ok(!recorded.includes(secret), `"${secret}" must not be recorded`);
  });

  it('is a child of the active span', async () => {
    const outer = telemetry.tracer.startSpan('served call');
    await context.with(trace.setSpan(context.active(), outer), () => jscode2session('good'));
    outer.end();
    await telemetry.forceFlush();
    const [client] = exporter.getFinishedSpans().filter((s) => s.name.startsWith('GET'));
    assert.equal(client?.parentSpanContext?.spanId, outer.spanContext().spanId);
  });

  it('marks a WeChat errcode an error by type only, keeping the errcode', async () => {
    await assert.rejects(jscode2session('bad'), /40029/);
    const span = await only();
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.status.message, 'WeChatApiError');
    assert.equal(span.attributes['error.type'], 'WeChatApiError');
    assert.equal(span.attributes['wechat.errcode'], 40029);
    const recorded = JSON.stringify({
      attributes: span.attributes,
      events: span.events,
      status: span.status,
    });
    assert.ok(!recorded.includes('bad'), 'the code is not recorded');
  });

  it('marks an HTTP error status failed by its code', async () => {
    const url = new URL(`${base}/down`);
    await tracedHttpCall({ method: 'POST', url, template: '/down' }, async (span) => {
      span.status((await fetch(url, { method: 'POST' })).status);
    });
    const span = await only();
    assert.equal(span.attributes['http.response.status_code'], 503);
    assert.equal(span.attributes['error.type'], '503');
    assert.equal(span.status.code, SpanStatusCode.ERROR);
  });

  it('costs nothing and still runs the call when tracing is off', async () => {
    await telemetry.shutdown();
    try {
      assert.deepEqual(await jscode2session('good'), { openid: 'o_1' });
      assert.equal(propagation.getBaggage(context.active()), undefined);
    } finally {
      telemetry = await initTelemetry({ serviceName: 'auth-verify', exporter, spanProcessor: 'simple' });
    }
    assert.equal(exporter.getFinishedSpans().length, 0);
  });
});
