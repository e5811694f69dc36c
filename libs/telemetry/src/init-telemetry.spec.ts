import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import {
  endRpcSpan,
  initTelemetry,
  otlpTracesUrl,
  startRpcServerSpan,
  telemetryOptionsFromEnv,
  tracingEnabled,
  type TelemetryOptions,
} from './index.js';

const run = promisify(execFile);
const INDEX_URL = new URL('./index.ts', import.meta.url).href;
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

/**
 * Starts a fresh Node process that initialises telemetry with `options` and reports every
 * @opentelemetry package it loaded. The packages are CommonJS (no `exports` map), so even
 * when imported from ESM they pass through the CJS loader and land in `require.cache`.
 */
async function packagesLoadedBy(options: Omit<TelemetryOptions, 'exporter'>): Promise<string[]> {
  const script = `
    import { createRequire } from 'node:module';
    const { initTelemetry } = await import(${JSON.stringify(INDEX_URL)});
    const telemetry = await initTelemetry(${JSON.stringify(options)});
    const loaded = Object.keys(createRequire(process.cwd() + '/probe.js').cache);
    const packages = new Set(loaded.flatMap((file) => file.match(/node_modules\\/(@opentelemetry\\/[^/]+)\\//)?.[1] ?? []));
    await telemetry.shutdown();
    console.log(JSON.stringify([...packages].sort()));
  `;
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('OTEL_')));
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: PACKAGE_DIR,
    env,
    timeout: 30_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as string[];
}

describe('start-up cost', () => {
  it('loads no SDK package when nothing is exported', async () => {
    const packages = await packagesLoadedBy({ serviceName: 'probe' });
    // The light packages that carry context are there, which shows the probe sees what loads...
    assert.ok(packages.includes('@opentelemetry/core'), packages.join(' '));
    assert.ok(packages.includes('@opentelemetry/context-async-hooks'), packages.join(' '));
    // ...and none of the SDK is.
    for (const sdk of [
      '@opentelemetry/sdk-node',
      '@opentelemetry/sdk-trace-base',
      '@opentelemetry/sdk-trace',
      '@opentelemetry/resources',
      '@opentelemetry/exporter-trace-otlp-proto',
      '@opentelemetry/otlp-exporter-base',
    ]) {
      assert.ok(!packages.includes(sdk), `${sdk} was loaded: ${packages.join(' ')}`);
    }
  });

  it('loads the trace SDK and OTLP exporter, but not NodeSDK, when an endpoint is set', async () => {
    const packages = await packagesLoadedBy({ serviceName: 'probe', otlpEndpoint: 'http://127.0.0.1:9' });
    assert.ok(packages.includes('@opentelemetry/sdk-trace-base'), packages.join(' '));
    assert.ok(packages.includes('@opentelemetry/exporter-trace-otlp-proto'), packages.join(' '));
    assert.ok(!packages.includes('@opentelemetry/sdk-node'), packages.join(' '));
  });
});

// --- A minimal reader for the OTLP ExportTraceServiceRequest the collector receives. ---

type Fields = Map<number, (Uint8Array | bigint)[]>;

function fields(bytes: Uint8Array): Fields {
  const reader = new BinaryReader(bytes);
  const out: Fields = new Map();
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    let value: Uint8Array | bigint;
    if (wireType === WireType.LengthDelimited) value = reader.bytes();
    else if (wireType === WireType.Varint) value = BigInt(reader.uint64());
    else {
      reader.skip(wireType, fieldNo);
      continue;
    }
    out.set(fieldNo, [...(out.get(fieldNo) ?? []), value]);
  }
  return out;
}

const text = (value: Uint8Array | bigint | undefined) => new TextDecoder().decode(value as Uint8Array);
const hex = (value: Uint8Array | bigint | undefined) => Buffer.from(value as Uint8Array).toString('hex');

/** KeyValue list -> record; AnyValue string_value is field 1, int_value field 3. */
function keyValues(list: (Uint8Array | bigint)[] | undefined): Record<string, string | bigint> {
  const out: Record<string, string | bigint> = {};
  for (const kv of list ?? []) {
    const pair = fields(kv as Uint8Array);
    const value = fields(pair.get(2)![0] as Uint8Array);
    out[text(pair.get(1)![0])] = value.has(1) ? text(value.get(1)![0]) : (value.get(3)![0] as bigint);
  }
  return out;
}

interface ExportedSpan {
  resource: Record<string, string | bigint>;
  name: string;
  kind: bigint;
  traceId: string;
  parentSpanId: string;
  attributes: Record<string, string | bigint>;
}

function decodeExportRequest(body: Uint8Array): ExportedSpan[] {
  const spans: ExportedSpan[] = [];
  for (const resourceSpans of fields(body).get(1) ?? []) {
    const rs = fields(resourceSpans as Uint8Array);
    const resource = keyValues(fields(rs.get(1)![0] as Uint8Array).get(1));
    for (const scopeSpans of rs.get(2) ?? []) {
      for (const raw of fields(scopeSpans as Uint8Array).get(2) ?? []) {
        const span = fields(raw as Uint8Array);
        spans.push({
          resource,
          name: text(span.get(5)![0]),
          kind: span.get(6)![0] as bigint,
          traceId: hex(span.get(1)![0]),
          parentSpanId: span.has(4) ? hex(span.get(4)![0]) : '',
          attributes: keyValues(span.get(9)),
        });
      }
    }
  }
  return spans;
}

describe('OTLP export', () => {
  const received: { url: string; contentType: string; body: Buffer }[] = [];
  const collector = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        url: req.url ?? '',
        contentType: String(req.headers['content-type']),
        body: Buffer.concat(chunks),
      });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  before(() => new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve)));
  after(() => {
    collector.closeAllConnections();
    return new Promise<void>((resolve) => collector.close(() => resolve()));
  });

  it('sends protobuf spans with the service resource to <endpoint>/v1/traces', async () => {
    const { port } = collector.address() as AddressInfo;
    const telemetry = await initTelemetry({
      serviceName: 'payment-callback',
      serviceVersion: '1.4.2',
      otlpEndpoint: `http://127.0.0.1:${port}/`,
    });
    try {
      assert.equal(telemetry.enabled, true);
      const parent = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        traceFlags: 1,
        isRemote: true,
      });
      const { span } = startRpcServerSpan(telemetry.tracer, {
        system: 'grpc',
        service: 'wxmesh.payment.v1.PaymentService',
        method: 'CreateJsapiOrder',
        parentContext: parent,
        wechat: { openid: 'oPay123', appid: 'wxpay' },
      });
      endRpcSpan(span, { code: 0 });
      await telemetry.forceFlush();
    } finally {
      await telemetry.shutdown();
    }

    assert.equal(received.length, 1);
    const [request] = received;
    assert.equal(request!.url, '/v1/traces');
    assert.equal(request!.contentType, 'application/x-protobuf');
    const [exported, ...rest] = decodeExportRequest(request!.body);
    assert.equal(rest.length, 0);
    assert.equal(exported!.resource['service.name'], 'payment-callback');
    assert.equal(exported!.resource['service.version'], '1.4.2');
    assert.equal(exported!.name, 'wxmesh.payment.v1.PaymentService/CreateJsapiOrder');
    assert.equal(exported!.kind, 2n); // SPAN_KIND_SERVER
    assert.equal(exported!.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(exported!.parentSpanId, 'b7ad6b7169203331');
    assert.equal(exported!.attributes['rpc.method'], 'CreateJsapiOrder');
    assert.equal(exported!.attributes['rpc.grpc.status_code'], 0n);
    assert.equal(exported!.attributes['wechat.openid'], 'oPay123');
  });
});

describe('initTelemetry lifecycle', () => {
  it('refuses a second live instance, and allows a new one after shutdown', async () => {
    const first = await initTelemetry({ serviceName: 'a' });
    assert.equal(tracingEnabled(), false); // propagation only: no tracer provider
    await assert.rejects(initTelemetry({ serviceName: 'b' }), /already initialised/);
    await first.shutdown();
    await first.shutdown();
    const second = await initTelemetry({ serviceName: 'b', exporter: new InMemorySpanExporter() });
    assert.equal(second.enabled, true);
    assert.equal(tracingEnabled(), true);
    await second.shutdown();
    await second.shutdown();
    assert.equal(tracingEnabled(), false);
  });

  it('rejects bad options without leaving anything registered', async () => {
    await assert.rejects(initTelemetry({ serviceName: 'a', sampleRatio: 1.5 }), /sampleRatio/);
    await assert.rejects(initTelemetry({ serviceName: 'a', otlpEndpoint: 'localhost:4318' }), /http/);
    await assert.rejects(initTelemetry({ serviceName: ' ' }), /serviceName/);
    const telemetry = await initTelemetry({ serviceName: 'a' });
    await telemetry.shutdown();
  });

  it('samples new traces by ratio but follows a sampled parent', async () => {
    const exporter = new InMemorySpanExporter();
    const telemetry = await initTelemetry({
      serviceName: 'a',
      exporter,
      sampleRatio: 0,
      spanProcessor: 'simple',
    });
    try {
      const root = telemetry.tracer.startSpan('root');
      assert.equal(root.isRecording(), false);
      root.end();
      const sampledParent = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        traceFlags: 1,
        isRemote: true,
      });
      const child = telemetry.tracer.startSpan('child', {}, sampledParent);
      assert.equal(child.isRecording(), true);
      child.end();
      await telemetry.forceFlush();
      assert.deepEqual(
        exporter.getFinishedSpans().map((span) => span.name),
        ['child'],
      );
    } finally {
      await telemetry.shutdown();
    }
  });
});

describe('endpoint configuration', () => {
  it('appends v1/traces to a base endpoint the way OTEL_EXPORTER_OTLP_ENDPOINT does', () => {
    assert.equal(otlpTracesUrl('http://localhost:4318'), 'http://localhost:4318/v1/traces');
    assert.equal(otlpTracesUrl('http://localhost:4318/'), 'http://localhost:4318/v1/traces');
    assert.equal(otlpTracesUrl('https://gw.example.com/otlp/'), 'https://gw.example.com/otlp/v1/traces');
    assert.equal(otlpTracesUrl('http://gw/otlp?tenant=a'), 'http://gw/otlp/v1/traces?tenant=a');
    assert.throws(() => otlpTracesUrl('grpc://jaeger:4317'), /http/);
  });

  it('does not echo a rejected endpoint, which may hold credentials', () => {
    assert.throws(
      () => otlpTracesUrl('not a url user:s3cret@'),
      (err: Error) => !err.message.includes('s3cret'),
    );
  });

  it('reads the standard OTEL_* variables', () => {
    assert.deepEqual(telemetryOptionsFromEnv({}), {});
    assert.deepEqual(telemetryOptionsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' }), {
      otlpEndpoint: 'http://jaeger:4318',
    });
    assert.deepEqual(
      telemetryOptionsFromEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector/custom/traces',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
      }),
      {
        otlpEndpoint: 'http://jaeger:4318',
        otlpTracesEndpoint: 'http://collector/custom/traces',
        sampleRatio: 0.25,
      },
    );
    assert.deepEqual(
      telemetryOptionsFromEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
        OTEL_SDK_DISABLED: 'true',
      }),
      {},
    );
    assert.deepEqual(
      telemetryOptionsFromEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
        OTEL_TRACES_EXPORTER: 'none',
      }),
      {},
    );
    assert.throws(
      () => telemetryOptionsFromEnv({ OTEL_TRACES_SAMPLER_ARG: 'half' }),
      /OTEL_TRACES_SAMPLER_ARG/,
    );
    assert.throws(
      () =>
        telemetryOptionsFromEnv({
          OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://j:4317',
        }),
      /OTEL_EXPORTER_OTLP_PROTOCOL/,
    );
    assert.deepEqual(
      telemetryOptionsFromEnv({
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      }),
      {},
    );
  });

  it('exports to otlpTracesEndpoint as given', async () => {
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(req.url ?? '');
      req.resume().on('end', () => res.writeHead(200).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const telemetry = await initTelemetry({
      serviceName: 'a',
      otlpEndpoint: 'http://127.0.0.1:9',
      otlpTracesEndpoint: `http://127.0.0.1:${port}/custom/traces`,
    });
    try {
      telemetry.tracer.startSpan('s').end();
      await telemetry.forceFlush();
      assert.deepEqual(paths, ['/custom/traces']);
    } finally {
      await telemetry.shutdown();
      server.closeAllConnections();
      server.close();
    }
  });
});
