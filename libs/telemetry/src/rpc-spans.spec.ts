import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { ProxyTracerProvider, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  endRpcSpan,
  extractContext,
  injectHeaders,
  initTelemetry,
  parsePeer,
  startRpcClientSpan,
  startRpcServerSpan,
  wechatToHeaders,
  type Telemetry,
} from './index.js';

const SERVICE = 'wxmesh.session.v1.SessionService';
const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;

before(async () => {
  telemetry = await initTelemetry({ serviceName: 'session', exporter, spanProcessor: 'simple' });
});
after(() => telemetry.shutdown());
afterEach(() => exporter.reset());

async function finished(): Promise<ReadableSpan[]> {
  await telemetry.forceFlush();
  return exporter.getFinishedSpans();
}

async function only(): Promise<ReadableSpan> {
  const spans = await finished();
  assert.equal(spans.length, 1, `expected one span, got ${spans.map((s) => s.name).join(', ')}`);
  return spans[0]!;
}

describe('startRpcServerSpan', () => {
  it('opens a SERVER span named service/method with the rpc semconv and WeChat attributes', async () => {
    const { span, context: ctx } = startRpcServerSpan(telemetry.tracer, {
      system: 'grpc',
      service: SERVICE,
      method: 'CreateSession',
      parentContext: ROOT_CONTEXT,
      wechat: { openid: 'o1', appid: 'wx1', fromAppid: 'wx2' },
      peer: 'ipv4:10.1.2.3:54321',
    });
    assert.equal(trace.getSpan(ctx), span);
    endRpcSpan(span, { code: 0 });
    const exported = await only();
    assert.equal(exported.name, `${SERVICE}/CreateSession`);
    assert.equal(exported.kind, SpanKind.SERVER);
    assert.deepEqual(exported.attributes, {
      'rpc.system': 'grpc',
      'rpc.service': SERVICE,
      'rpc.method': 'CreateSession',
      'network.peer.address': '10.1.2.3',
      'network.peer.port': 54321,
      'wechat.openid': 'o1',
      'wechat.appid': 'wx1',
      'wechat.from_appid': 'wx2',
      'rpc.grpc.status_code': 0,
    });
    assert.equal(exported.status.code, SpanStatusCode.UNSET);
    assert.equal(exported.resource.attributes['service.name'], 'session');
  });

  it('marks only the semconv server error codes as errors', async () => {
    const outcomes = new Map<number, SpanStatusCode>();
    for (let code = 0; code <= 16; code++) {
      const { span } = startRpcServerSpan(telemetry.tracer, {
        system: 'grpc',
        service: SERVICE,
        method: `M${code}`,
        parentContext: ROOT_CONTEXT,
      });
      endRpcSpan(span, { code });
    }
    for (const span of await finished()) {
      outcomes.set(span.attributes['rpc.grpc.status_code'] as number, span.status.code);
    }
    const errors = [...outcomes]
      .filter(([, status]) => status === SpanStatusCode.ERROR)
      .map(([code]) => code);
    assert.deepEqual(errors, [2, 4, 12, 13, 14, 15]);
  });

  it('sets error.type and the caller message on a server error', async () => {
    const { span } = startRpcServerSpan(telemetry.tracer, {
      system: 'grpc',
      service: SERVICE,
      method: 'GetSession',
      parentContext: ROOT_CONTEXT,
    });
    endRpcSpan(span, { code: 14, message: 'redis unavailable; retry' });
    const exported = await only();
    assert.equal(exported.attributes['error.type'], 'UNAVAILABLE');
    assert.deepEqual(exported.status, { code: SpanStatusCode.ERROR, message: 'redis unavailable; retry' });
  });

  it('uses rpc.connect_rpc.error_code for Connect and only on failure', async () => {
    for (const code of [0, 5, 4]) {
      const { span } = startRpcServerSpan(telemetry.tracer, {
        system: 'connect_rpc',
        service: SERVICE,
        method: `Connect${code}`,
        parentContext: ROOT_CONTEXT,
      });
      endRpcSpan(span, { code });
    }
    const byName = new Map((await finished()).map((span) => [span.name, span]));
    const ok = byName.get(`${SERVICE}/Connect0`)!;
    assert.equal(ok.attributes['rpc.system'], 'connect_rpc');
    assert.equal(ok.attributes['rpc.connect_rpc.error_code'], undefined);
    assert.equal(ok.attributes['rpc.grpc.status_code'], undefined);
    const notFound = byName.get(`${SERVICE}/Connect5`)!;
    assert.equal(notFound.attributes['rpc.connect_rpc.error_code'], 'not_found');
    assert.equal(notFound.status.code, SpanStatusCode.UNSET);
    const deadline = byName.get(`${SERVICE}/Connect4`)!;
    assert.equal(deadline.attributes['rpc.connect_rpc.error_code'], 'deadline_exceeded');
    assert.deepEqual(deadline.status, { code: SpanStatusCode.ERROR, message: 'DEADLINE_EXCEEDED' });
  });
});

describe('startRpcClientSpan', () => {
  it('opens a CLIENT span with server.address/port and treats any non-OK code as an error', async () => {
    const { span } = startRpcClientSpan(telemetry.tracer, {
      system: 'grpc',
      service: SERVICE,
      method: 'GetPresence',
      parentContext: ROOT_CONTEXT,
      peer: { address: 'session.wxmesh.svc', port: 50051 },
      wechat: { openid: 'o1' },
    });
    endRpcSpan(span, { code: 5 });
    const exported = await only();
    assert.equal(exported.kind, SpanKind.CLIENT);
    assert.equal(exported.attributes['server.address'], 'session.wxmesh.svc');
    assert.equal(exported.attributes['server.port'], 50051);
    assert.equal(exported.attributes['wechat.openid'], 'o1');
    assert.equal(exported.attributes['rpc.grpc.status_code'], 5);
    assert.equal(exported.attributes['error.type'], 'NOT_FOUND');
    assert.deepEqual(exported.status, { code: SpanStatusCode.ERROR, message: 'NOT_FOUND' });
  });

  it('is the parent of the server span after a trip through headers', async () => {
    const outer = telemetry.tracer.startSpan('caller');
    const callerContext = trace.setSpan(ROOT_CONTEXT, outer);
    const client = startRpcClientSpan(telemetry.tracer, {
      system: 'grpc',
      service: SERVICE,
      method: 'Deliver',
      parentContext: callerContext,
    });
    const headers = new Map<string, string>();
    const set = (name: string, value: string) => headers.set(name, value);
    wechatToHeaders({ openid: 'o-caller' }, set);
    injectHeaders(set, client.context);

    const server = startRpcServerSpan(telemetry.tracer, {
      system: 'grpc',
      service: SERVICE,
      method: 'Deliver',
      parentContext: extractContext((name) => headers.get(name)),
    });
    endRpcSpan(server.span, { code: 0 });
    endRpcSpan(client.span, { code: 0 });
    outer.end();

    const spans = await finished();
    const serverSpan = spans.find((s) => s.kind === SpanKind.SERVER)!;
    const clientSpan = spans.find((s) => s.kind === SpanKind.CLIENT)!;
    assert.equal(clientSpan.parentSpanContext?.spanId, outer.spanContext().spanId);
    assert.equal(serverSpan.spanContext().traceId, outer.spanContext().traceId);
    assert.equal(serverSpan.parentSpanContext?.spanId, clientSpan.spanContext().spanId);
    assert.equal(serverSpan.parentSpanContext?.isRemote, true);
  });
});

describe('endRpcSpan and errors', () => {
  const secret = 'password=hunter2 access_token=ACCESS_TOKEN_SECRET';

  it('records the code and the error type but never the error message or stack', async () => {
    const { span } = startRpcServerSpan(telemetry.tracer, {
      system: 'grpc',
      service: SERVICE,
      method: 'Login',
      parentContext: ROOT_CONTEXT,
    });
    const error = new TypeError(`jscode2session failed: ${secret}`);
    endRpcSpan(span, { code: 13, error });
    const exported = await only();
    assert.equal(exported.attributes['rpc.grpc.status_code'], 13);
    assert.deepEqual(exported.status, { code: SpanStatusCode.ERROR, message: 'INTERNAL' });
    assert.deepEqual(
      exported.events.map((event) => [event.name, event.attributes]),
      [['exception', { 'exception.type': 'TypeError' }]],
    );
    const everything = JSON.stringify({
      attributes: exported.attributes,
      status: exported.status,
      events: exported.events,
      links: exported.links,
    });
    assert.ok(!everything.includes('hunter2'), everything);
    assert.ok(!everything.includes('jscode2session'), everything);
    assert.ok(!everything.includes(error.stack!.split('\n')[1]!.trim()), everything);
  });

  it('records the full exception when the caller marks it safe', async () => {
    const { span } = startRpcServerSpan(telemetry.tracer, {
      system: 'grpc',
      service: SERVICE,
      method: 'Login',
      parentContext: ROOT_CONTEXT,
    });
    endRpcSpan(span, { code: 2, error: new RangeError('page size 500 exceeds 100'), errorIsSafe: true });
    const [event] = (await only()).events;
    assert.equal(event?.attributes?.['exception.type'], 'RangeError');
    assert.equal(event?.attributes?.['exception.message'], 'page size 500 exceeds 100');
    assert.match(String(event?.attributes?.['exception.stacktrace']), /rpc-spans\.spec\.ts/);
  });

  it('records nothing about the error when the code is not a server error', async () => {
    const { span } = startRpcServerSpan(telemetry.tracer, {
      system: 'grpc',
      service: SERVICE,
      method: 'GetSession',
      parentContext: ROOT_CONTEXT,
    });
    endRpcSpan(span, { code: 5, error: new Error(secret) });
    const exported = await only();
    assert.equal(exported.status.code, SpanStatusCode.UNSET);
    assert.deepEqual(exported.events, []);
    assert.equal(exported.attributes['error.type'], undefined);
  });

  it('bounds a long caller message', async () => {
    const { span } = startRpcClientSpan(telemetry.tracer, {
      system: 'grpc',
      service: SERVICE,
      method: 'X',
      parentContext: ROOT_CONTEXT,
    });
    endRpcSpan(span, { code: 3, message: 'x'.repeat(10_000) });
    assert.equal((await only()).status.message?.length, 512);
  });
});

describe('non-recording spans', () => {
  it('reuses the parent context and records nothing when the tracer is a no-op', async () => {
    const noop = trace.wrapSpanContext({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
      isRemote: true,
    });
    const parent = trace.setSpan(ROOT_CONTEXT, noop);
    // What `trace.getTracer()` hands out when no SDK is installed, as on initTelemetry's no-op path.
    const noopTracer = new ProxyTracerProvider().getTracer('noop');
    const { span, context: ctx } = startRpcServerSpan(noopTracer, {
      system: 'grpc',
      service: SERVICE,
      method: 'Touch',
      parentContext: parent,
      wechat: { openid: 'o1' },
    });
    assert.equal(span.isRecording(), false);
    assert.equal(ctx, parent);
    endRpcSpan(span, { code: 13, error: new Error('x') });
    assert.deepEqual(await finished(), []);
  });

  it('records nothing under an unsampled parent but still carries its trace', async () => {
    const unsampled = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 0,
      isRemote: true,
    });
    const { span, context: ctx } = startRpcServerSpan(telemetry.tracer, {
      system: 'grpc',
      service: SERVICE,
      method: 'Touch',
      parentContext: unsampled,
    });
    assert.equal(span.isRecording(), false);
    assert.equal(trace.getSpanContext(ctx)?.traceId, '0af7651916cd43dd8448eb211c80319c');
    endRpcSpan(span, { code: 0 });
    assert.deepEqual(await finished(), []);
  });
});

describe('parsePeer', () => {
  it('splits the address forms grpc-js reports', () => {
    assert.deepEqual(parsePeer('ipv4:10.0.0.7:50051'), { address: '10.0.0.7', port: 50051 });
    assert.deepEqual(parsePeer('ipv6:[::1]:5'), { address: '::1', port: 5 });
    assert.deepEqual(parsePeer('[2001:db8::1]:443'), { address: '2001:db8::1', port: 443 });
    assert.deepEqual(parsePeer('dns:///session:50051'), { address: 'session', port: 50051 });
    assert.deepEqual(parsePeer('unix:/run/app.sock'), { address: '/run/app.sock' });
    assert.deepEqual(parsePeer('session.wxmesh.svc:50051'), { address: 'session.wxmesh.svc', port: 50051 });
    assert.deepEqual(parsePeer('2001:db8::1'), { address: '2001:db8::1' });
    assert.deepEqual(parsePeer('host:99999'), { address: 'host:99999' });
  });
});
