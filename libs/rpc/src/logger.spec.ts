import assert from 'node:assert/strict';
import { test } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { initTelemetry } from '@wxmesh/telemetry';
import { createLogger } from './logger.js';

test('log lines carry the active trace_id/span_id and redact secret-named fields', async () => {
  const telemetry = await initTelemetry({ serviceName: 'log-test', exporter: new InMemorySpanExporter() });
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    name: 'log-test',
    level: 'info',
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const span = telemetry.tracer.startSpan('work');
  context.with(trace.setSpan(context.active(), span), () =>
    logger.info({ user: { openid: 'o1', session_key: 'tiihtNczf5v6AKRyjwEUhQ==' }, token: 't0k' }, 'inside'),
  );
  span.end();
  logger.info('outside');
  await telemetry.shutdown();

  const [inside, outside] = lines;
  assert.equal(inside?.trace_id, span.spanContext().traceId);
  assert.equal(inside?.span_id, span.spanContext().spanId);
  assert.equal((inside?.user as Record<string, unknown>).session_key, '[redacted]');
  assert.equal(inside?.token, '[redacted]');
  assert.doesNotMatch(JSON.stringify(lines), /tiihtNczf5v6AKRyjwEUhQ|t0k/);
  assert.equal(outside?.trace_id, undefined);
});
