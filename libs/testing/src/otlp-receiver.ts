import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import { scaledTimeout } from './timeout-scale.js';
import { waitFor } from './wait-for.js';

// The part of the OTLP trace protocol (opentelemetry-proto, collector/trace/v1 and trace/v1) a
// test reads, as protobufjs parses it at run time: the services export OTLP/HTTP protobuf, as to
// Jaeger, and this decodes exactly that. Field numbers are the specification's.
const OTLP_TRACE_PROTO = `
syntax = "proto3";
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { Scope scope = 1; repeated Span spans = 2; }
message Scope { string name = 1; string version = 2; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4;
  string name = 5; int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; repeated Event events = 11; repeated Link links = 13; Status status = 15;
}
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; }
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
`;

const REQUEST = protobuf
  .parse(OTLP_TRACE_PROTO, { keepCase: true })
  .root.lookupType('ExportTraceServiceRequest');

type AttributeValue = string | number | boolean | Array<string | number | boolean>;

/** One span as a service exported it. Ids are lowercase hex, as in `traceparent`. */
export interface ReceivedSpan {
  /** `service.name` of the exporting resource. */
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  /** Empty for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly events: ReadonlyArray<{ name: string; attributes: Readonly<Record<string, AttributeValue>> }>;
  readonly links: ReadonlyArray<{ traceId: string; spanId: string }>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  readonly status: { code: number; message: string };
}

/** A local OTLP/HTTP traces endpoint: what services export to it, decoded. */
export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>`: give it to services as `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly endpoint: string;
  /** Every span received so far. */
  spans(): readonly ReceivedSpan[];
  /** The spans of one trace, once `done` holds for them (default: any span), within a scaled deadline. */
  waitForTrace(
    traceId: string,
    done?: (spans: readonly ReceivedSpan[]) => boolean,
    options?: { timeoutMs?: number; message?: string },
  ): Promise<ReceivedSpan[]>;
  stop(): Promise<void>;
}

/**
 * Starts an OTLP/HTTP receiver on 127.0.0.1 (port 0) accepting `POST /v1/traces` in protobuf
 * (gzip or not), as Jaeger's or a collector's OTLP intake does. A body it cannot decode is
 * answered 400 and remembered, so a test fails on it rather than silently missing spans.
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const received: ReceivedSpan[] = [];
  const failures: string[] = [];
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end();
      try {
        const raw = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
        received.push(...decodeSpans(raw));
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      } catch (err) {
        failures.push((err as Error).message);
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const check = () => {
    if (failures.length > 0) throw new Error(`OTLP receiver could not decode an export: ${failures[0]}`);
  };
  return {
    endpoint,
    spans: () => (check(), received),
    async waitForTrace(traceId, done = (spans) => spans.length > 0, options = {}) {
      let spans: ReceivedSpan[] = [];
      await waitFor(
        () => {
          check();
          spans = received.filter((s) => s.traceId === traceId);
          return done(spans);
        },
        {
          timeoutMs: options.timeoutMs ?? scaledTimeout(30_000),
          intervalMs: 100,
          message: options.message ?? `trace ${traceId} to be exported`,
        },
      );
      return spans;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface RawKeyValue {
  key: string;
  value?: Record<string, unknown>;
}

function decodeSpans(body: Uint8Array): ReceivedSpan[] {
  const request = REQUEST.toObject(REQUEST.decode(body), { longs: Number, bytes: Buffer, arrays: true }) as {
    resource_spans: Array<{
      resource?: { attributes: RawKeyValue[] };
      scope_spans: Array<{ spans: Array<Record<string, unknown>> }>;
    }>;
  };
  return request.resource_spans.flatMap((resourceSpans) => {
    const service = String(attributesOf(resourceSpans.resource?.attributes ?? [])['service.name'] ?? '');
    return resourceSpans.scope_spans.flatMap((scope) => scope.spans.map((span) => spanOf(service, span)));
  });
}

function spanOf(service: string, span: Record<string, unknown>): ReceivedSpan {
  const hex = (value: unknown) =>
    value === undefined ? '' : Buffer.from(value as Uint8Array).toString('hex');
  const status = (span.status ?? {}) as { code?: number; message?: string };
  return {
    service,
    traceId: hex(span.trace_id),
    spanId: hex(span.span_id),
    parentSpanId: hex(span.parent_span_id),
    name: (span.name as string | undefined) ?? '',
    kind: (span.kind as number | undefined) ?? 0,
    attributes: attributesOf(span.attributes as RawKeyValue[]),
    events: (span.events as Array<{ name?: string; attributes: RawKeyValue[] }>).map((e) => ({
      name: e.name ?? '',
      attributes: attributesOf(e.attributes),
    })),
    links: (span.links as Array<{ trace_id: Buffer; span_id: Buffer }>).map((l) => ({
      traceId: hex(l.trace_id),
      spanId: hex(l.span_id),
    })),
    status: { code: status.code ?? 0, message: status.message ?? '' },
  };
}

function attributesOf(list: RawKeyValue[]): Record<string, AttributeValue> {
  return Object.fromEntries(list.map((kv) => [kv.key, valueOf(kv.value ?? {})]));
}

function valueOf(value: Record<string, unknown>): AttributeValue {
  if ('array_value' in value && value.array_value !== null && value.array_value !== undefined) {
    const values = (value.array_value as { values: Array<Record<string, unknown>> }).values;
    return values.map((v) => valueOf(v) as string | number | boolean);
  }
  for (const key of ['string_value', 'bool_value', 'int_value', 'double_value'] as const)
    if (key in value && value[key] !== undefined && value[key] !== null)
      return value[key] as string | number | boolean;
  if (value.bytes_value instanceof Buffer) return value.bytes_value.toString('base64');
  return '';
}
