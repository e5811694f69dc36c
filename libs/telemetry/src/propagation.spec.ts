import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import {
  extractContext,
  extractKafkaContext,
  initTelemetry,
  injectHeaders,
  injectKafkaHeaders,
  startRpcServerSpan,
  wechatFromBaggage,
  withWeChatBaggage,
  type KafkaHeaders,
  type Telemetry,
  type WeChatIdentity,
} from './index.js';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT_ID = 'b7ad6b7169203331';
const IDENTITY: WeChatIdentity = {
  openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o',
  appid: 'wx1234567890abcdef',
  env: 'prod',
};

/** What kafkajs hands a consumer: every header value as a Buffer. */
function asDelivered(headers: Record<string, string | Buffer>): KafkaHeaders {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, Buffer.from(value)]));
}

describe('with tracing on', () => {
  const exporter = new InMemorySpanExporter();
  let telemetry: Telemetry;
  before(async () => {
    telemetry = await initTelemetry({ serviceName: 'producer', exporter, spanProcessor: 'simple' });
  });
  after(() => telemetry.shutdown());

  it('carries the trace and the WeChat identity through Kafka headers delivered as Buffers', async () => {
    const producerSpan = telemetry.tracer.startSpan('publish', { kind: SpanKind.PRODUCER });
    const withBaggage = propagation.setBaggage(
      ROOT_CONTEXT,
      propagation.createBaggage({ tenant: { value: 'shop-7' } }),
    );
    const producerContext = withWeChatBaggage(trace.setSpan(withBaggage, producerSpan), IDENTITY);

    const headers = injectKafkaHeaders({ 'event-type': 'UserLoggedIn' }, producerContext);
    assert.equal(headers['event-type'], 'UserLoggedIn');
    assert.equal(headers['x-wx-openid'], IDENTITY.openid);
    assert.equal(headers['x-wx-appid'], IDENTITY.appid);
    assert.equal(headers['x-wx-env'], IDENTITY.env);
    assert.match(String(headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    const consumed = extractKafkaContext(asDelivered(headers));
    const parent = trace.getSpanContext(consumed);
    assert.equal(parent?.traceId, producerSpan.spanContext().traceId);
    assert.equal(parent?.spanId, producerSpan.spanContext().spanId);
    assert.equal(parent?.isRemote, true);
    assert.deepEqual(wechatFromBaggage(consumed), IDENTITY);
    assert.equal(propagation.getBaggage(consumed)?.getEntry('tenant')?.value, 'shop-7');

    const consumerSpan = telemetry.tracer.startSpan('process', { kind: SpanKind.CONSUMER }, consumed);
    consumerSpan.end();
    producerSpan.end();
    await telemetry.forceFlush();
    const exported = exporter.getFinishedSpans().find((span) => span.name === 'process');
    assert.equal(exported?.parentSpanContext?.spanId, producerSpan.spanContext().spanId);
  });

  it('reads repeated Kafka headers, taking the first traceparent', () => {
    const consumed = extractKafkaContext({
      traceparent: [
        Buffer.from(`00-${TRACE_ID}-${PARENT_ID}-01`),
        `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`,
      ],
      'x-wx-openid': [Buffer.from('o-first'), 'o-second'],
      'x-wx-appid': undefined,
    });
    assert.equal(trace.getSpanContext(consumed)?.traceId, TRACE_ID);
    assert.deepEqual(wechatFromBaggage(consumed), { openid: 'o-first' });
  });

  it('ignores a WeChat identity that arrives only in the baggage header', () => {
    const forged = extractContext(
      (name) =>
        ({
          traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`,
          baggage: 'wechat.openid=victim,tenant=t1',
        })[name],
    );
    assert.deepEqual(wechatFromBaggage(forged), {});
    assert.equal(propagation.getBaggage(forged)?.getEntry('tenant')?.value, 't1');
  });

  it('injectHeaders writes the W3C headers but leaves x-wx-* to the caller', () => {
    const ctx = withWeChatBaggage(
      trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: 1 }),
      { openid: 'o1' },
    );
    const headers = new Map<string, string>();
    injectHeaders((name, value) => headers.set(name, value), ctx);
    assert.deepEqual([...headers.keys()].sort(), ['baggage', 'traceparent']);
    assert.equal(headers.get('traceparent'), `00-${TRACE_ID}-${PARENT_ID}-01`);
  });
});

describe('with tracing off', () => {
  let telemetry: Telemetry;
  before(async () => {
    telemetry = await initTelemetry({ serviceName: 'relay' });
  });
  after(() => telemetry.shutdown());

  it('still passes an incoming trace and identity on to outgoing calls and Kafka records', async () => {
    assert.equal(telemetry.enabled, false);
    const incoming: Record<string, string> = {
      traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`,
      tracestate: 'vendor=abc',
      'x-wx-openid': 'o-relay',
    };
    const { span, context: served } = startRpcServerSpan(telemetry.tracer, {
      system: 'grpc',
      service: 'wxmesh.router.v1.MessageRouterService',
      method: 'RouteMessage',
      parentContext: extractContext((name) => incoming[name]),
      wechat: { openid: 'o-relay' },
    });
    assert.equal(span.isRecording(), false);

    // The handler awaits before calling out: only a registered context manager keeps `served` active.
    const [outgoing, record] = await context.with(served, async () => {
      await nextTurn();
      const headers: Record<string, string> = {};
      injectHeaders((name, value) => (headers[name] = value));
      return [headers, injectKafkaHeaders({})] as const;
    });
    assert.equal(outgoing.traceparent, `00-${TRACE_ID}-${PARENT_ID}-01`);
    assert.equal(outgoing.tracestate, 'vendor=abc');
    assert.equal(outgoing.baggage, 'wechat.openid=o-relay');
    assert.equal(record.traceparent, `00-${TRACE_ID}-${PARENT_ID}-01`);
    assert.equal(record['x-wx-openid'], 'o-relay');
  });
});
