import {
  context,
  diag,
  DiagConsoleLogger,
  propagation,
  ProxyTracerProvider,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  CompositePropagator,
  diagLogLevelFromString,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from './attributes.js';

/** Options of {@link initTelemetry}; {@link telemetryOptionsFromEnv} reads the standard OTEL_* variables into them. */
export interface TelemetryOptions {
  /** `service.name` of every span, e.g. `auth-verify`. */
  serviceName: string;
  serviceVersion?: string | undefined;
  /**
   * OTLP/HTTP base URL with `OTEL_EXPORTER_OTLP_ENDPOINT` semantics: spans go to
   * `<endpoint>/v1/traces` (Jaeger: `http://localhost:4318`). Unset (and no `exporter`,
   * no `otlpTracesEndpoint`) means tracing is off.
   */
  otlpEndpoint?: string | undefined;
  /** Full traces URL with `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` semantics, used as is; wins over `otlpEndpoint`. */
  otlpTracesEndpoint?: string | undefined;
  /** `batch` (default) exports in the background; `simple` exports each span as it ends (tests, debugging). */
  spanProcessor?: 'batch' | 'simple' | undefined;
  /** Export here instead of OTLP, e.g. an InMemorySpanExporter in tests. Wins over the endpoints. */
  exporter?: SpanExporter | undefined;
  /** Share of new traces (those without a sampled parent decision) to record, 0..1; default 1. */
  sampleRatio?: number | undefined;
}

/** What {@link initTelemetry} returns; keep it for the lifetime of the process. */
export interface Telemetry {
  /** True when spans are recorded and exported; false for the no-op set-up. */
  readonly enabled: boolean;
  /** The tracer RPC spans are started with. */
  readonly tracer: Tracer;
  /** Exports all ended spans now; resolves when the exporter has answered. */
  forceFlush(): Promise<void>;
  /**
   * Flushes, stops exporting and unregisters the globals set by initTelemetry, so call it
   * last, after the server has drained. Safe to call more than once.
   */
  shutdown(): Promise<void>;
}

const TRACER_NAME = '@wxmesh/telemetry';
const TRACER_VERSION = '0.1.0';

const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * False while no tracer provider is registered (whoever registers it: {@link initTelemetry} or a
 * test), so every span is a non-recording no-op. Hot paths use it to skip building span
 * attributes and contexts nobody records.
 */
export function tracingEnabled(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider && provider.getDelegate() === NOOP_TRACER_PROVIDER);
}

/** Whether a Telemetry is live in this process: the OTel globals can only be owned once. */
let active = false;

/**
 * Sets up tracing for the process; call once, first thing in `main.ts`.
 *
 * Always registers the W3C tracecontext + baggage propagators and an AsyncLocalStorage
 * context manager, so an incoming `traceparent`/`baggage` and the WeChat identity travel
 * on to outgoing calls and Kafka records even when this process exports nothing.
 *
 * With no `exporter`, `otlpEndpoint` or `otlpTracesEndpoint` that is all it does: the SDK is
 * never loaded (`enabled: false`, spans are non-recording and nearly free). Otherwise it
 * loads the SDK on demand and installs a tracer provider with a ParentBased(TraceIdRatio)
 * sampler, a BatchSpanProcessor (or a SimpleSpanProcessor) and the OTLP/HTTP protobuf
 * exporter. No auto-instrumentation is installed; the service kit opens its RPC spans itself.
 *
 * Throws on an invalid endpoint or sample ratio, and when telemetry is already initialised.
 */
export async function initTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  if (options.serviceName.trim() === '') throw new Error('initTelemetry: serviceName must not be empty');
  const ratio = options.sampleRatio ?? 1;
  if (!(ratio >= 0 && ratio <= 1)) throw new Error('initTelemetry: sampleRatio must be between 0 and 1');
  const tracesUrl = options.exporter === undefined ? tracesUrlOf(options) : undefined;
  if (active) {
    throw new Error('initTelemetry: telemetry is already initialised in this process; shut it down first');
  }
  active = true;
  try {
    registerPropagation();
    if (options.exporter === undefined && tracesUrl === undefined) return createNoopTelemetry();
    return await createSdkTelemetry(options, ratio, tracesUrl);
  } catch (err) {
    unregisterGlobals();
    active = false;
    throw err;
  }
}

function registerPropagation(): void {
  const contextManager = new AsyncLocalStorageContextManager().enable();
  if (!context.setGlobalContextManager(contextManager)) {
    contextManager.disable();
    throw new Error('initTelemetry: another OpenTelemetry context manager is already registered');
  }
  const propagator = new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  });
  if (!propagation.setGlobalPropagator(propagator)) {
    throw new Error('initTelemetry: another OpenTelemetry propagator is already registered');
  }
}

function unregisterGlobals(): void {
  diag.disable();
  trace.disable();
  propagation.disable();
  context.disable();
}

function createNoopTelemetry(): Telemetry {
  let done = false;
  return {
    enabled: false,
    tracer: trace.getTracer(TRACER_NAME, TRACER_VERSION),
    forceFlush: async () => {},
    shutdown: async () => {
      if (done) return;
      done = true;
      unregisterGlobals();
      active = false;
    },
  };
}

// The SDK path builds sdk-trace-base's BasicTracerProvider directly rather than NodeSDK.
// NodeSDK's module graph is ~460 files (~135 ms to load here against ~60 ms for sdk-trace-base,
// ~70 ms for the OTLP proto exporter), pulling in the metrics and logs SDKs, every OTLP exporter
// flavour (gRPC included), zipkin, b3/jaeger propagators and require-in-the-middle hooks. Worse,
// its defaults follow OTEL_METRICS_EXPORTER / OTEL_LOGS_EXPORTER (both default to `otlp`), so it
// would also push metrics and logs to Jaeger, which accepts only traces, and log failures forever.
// The tracer provider below is exactly the part of NodeSDK we need, configured explicitly.
async function createSdkTelemetry(
  options: TelemetryOptions,
  ratio: number,
  tracesUrl: string | undefined,
): Promise<Telemetry> {
  // The standard debugging switch: OTEL_LOG_LEVEL=warn prints failed exports to the console.
  const logLevel = process.env.OTEL_LOG_LEVEL;
  if (logLevel !== undefined) diag.setLogger(new DiagConsoleLogger(), diagLogLevelFromString(logLevel));

  const [sdk, resources, otlp] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
    options.exporter === undefined ? import('@opentelemetry/exporter-trace-otlp-proto') : undefined,
  ]);
  const exporter = options.exporter ?? new otlp!.OTLPTraceExporter({ url: tracesUrl });
  const processor =
    options.spanProcessor === 'simple'
      ? new sdk.SimpleSpanProcessor(exporter)
      : new sdk.BatchSpanProcessor(exporter);

  const serviceAttributes: Record<string, string> = { [ATTR_SERVICE_NAME]: options.serviceName };
  if (options.serviceVersion !== undefined) serviceAttributes[ATTR_SERVICE_VERSION] = options.serviceVersion;
  // Code-given service name/version win over OTEL_RESOURCE_ATTRIBUTES; the process detector is
  // left out on purpose: it records the command line, which may hold secrets.
  const resource = resources
    .defaultResource()
    .merge(
      resources.detectResources({
        detectors: [resources.envDetector, resources.hostDetector, resources.serviceInstanceIdDetector],
      }),
    )
    .merge(resources.resourceFromAttributes(serviceAttributes));

  const provider = new sdk.BasicTracerProvider({
    resource,
    sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(ratio) }),
    spanProcessors: [processor],
  });
  trace.setGlobalTracerProvider(provider);

  let shuttingDown: Promise<void> | undefined;
  return {
    enabled: true,
    tracer: provider.getTracer(TRACER_NAME, TRACER_VERSION),
    forceFlush: () => provider.forceFlush(),
    shutdown: () => {
      shuttingDown ??= provider.shutdown().finally(() => {
        unregisterGlobals();
        active = false;
      });
      return shuttingDown;
    },
  };
}

function tracesUrlOf(options: TelemetryOptions): string | undefined {
  if (options.otlpTracesEndpoint !== undefined && options.otlpTracesEndpoint !== '') {
    return parseHttpUrl(options.otlpTracesEndpoint, 'otlpTracesEndpoint').href;
  }
  if (options.otlpEndpoint !== undefined && options.otlpEndpoint !== '') {
    return otlpTracesUrl(options.otlpEndpoint);
  }
  return undefined;
}

/**
 * The traces URL for an OTLP/HTTP base endpoint, as the OTEL_EXPORTER_OTLP_ENDPOINT rules
 * define it: `v1/traces` appended to the path, whatever the path already is
 * (`http://jaeger:4318` and `http://jaeger:4318/` both give `http://jaeger:4318/v1/traces`,
 * `http://gw/otlp` gives `http://gw/otlp/v1/traces`). Throws on anything but an http(s) URL;
 * the message does not repeat the value, which could hold credentials.
 */
export function otlpTracesUrl(endpoint: string): string {
  const url = parseHttpUrl(endpoint, 'otlpEndpoint');
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/traces`;
  return url.href;
}

function parseHttpUrl(value: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new Error(`initTelemetry: ${name} is not a URL; expected e.g. http://localhost:4318`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`initTelemetry: ${name} must be an http:// or https:// URL (OTLP over HTTP/protobuf)`);
  }
  return url;
}

/**
 * Reads the standard variables into {@link TelemetryOptions}: OTEL_EXPORTER_OTLP_ENDPOINT,
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and OTEL_TRACES_SAMPLER_ARG. OTEL_SDK_DISABLED=true or
 * OTEL_TRACES_EXPORTER=none turn exporting off. Throws, naming the variable, on a sampler
 * argument outside 0..1 and on OTEL_EXPORTER_OTLP(_TRACES)_PROTOCOL other than
 * http/protobuf, the only protocol this exporter speaks (Jaeger: port 4318, not 4317).
 */
export function telemetryOptionsFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Pick<TelemetryOptions, 'otlpEndpoint' | 'otlpTracesEndpoint' | 'sampleRatio'> {
  const options: Pick<TelemetryOptions, 'otlpEndpoint' | 'otlpTracesEndpoint' | 'sampleRatio'> = {};
  const ratio = nonEmpty(env.OTEL_TRACES_SAMPLER_ARG);
  if (ratio !== undefined) {
    const value = Number(ratio);
    if (!(value >= 0 && value <= 1))
      throw new Error('OTEL_TRACES_SAMPLER_ARG must be a number between 0 and 1');
    options.sampleRatio = value;
  }
  if (nonEmpty(env.OTEL_SDK_DISABLED)?.toLowerCase() === 'true') return options;
  if (nonEmpty(env.OTEL_TRACES_EXPORTER)?.toLowerCase() === 'none') return options;
  const protocolVariable =
    nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) !== undefined
      ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
      : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = nonEmpty(env[protocolVariable]);
  if (protocol !== undefined && protocol !== 'http/protobuf') {
    throw new Error(`${protocolVariable} must be http/protobuf (OTLP over HTTP, e.g. Jaeger on port 4318)`);
  }
  const tracesEndpoint = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  if (tracesEndpoint !== undefined) options.otlpTracesEndpoint = tracesEndpoint;
  const endpoint = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (endpoint !== undefined) options.otlpEndpoint = endpoint;
  return options;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}
