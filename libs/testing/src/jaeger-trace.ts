import { waitFor } from './wait-for.js';

/** A span tag (an OTel attribute) as Jaeger's query API returns it. */
export interface JaegerTag {
  key: string;
  type: string;
  value: unknown;
}

/** A span's parent (`CHILD_OF`) or an OTel link (`FOLLOWS_FROM`). */
export interface JaegerReference {
  refType: 'CHILD_OF' | 'FOLLOWS_FROM';
  traceID: string;
  spanID: string;
}

/** One span of `GET /api/traces/<id>`; times are microseconds (start: since the Unix epoch). */
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: JaegerReference[];
  startTime: number;
  duration: number;
  tags: JaegerTag[];
  /** Key of {@link JaegerTrace.processes}: the service that recorded the span. */
  processID: string;
  logs?: unknown[];
  warnings?: string[] | null;
}

/** The resource a span came from: the service name and its resource attributes. */
export interface JaegerProcess {
  serviceName: string;
  tags: JaegerTag[];
}

/** One trace of Jaeger's query HTTP API (`data[0]` of `GET /api/traces/<id>`). */
export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, JaegerProcess>;
  warnings?: string[] | null;
}

/** The body of `GET /api/traces/<id>`. */
interface TracesResponse {
  data: JaegerTrace[] | null;
  errors: Array<{ code: number; msg: string }> | null;
}

/** How long one query may take before Jaeger counts as not answering. */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * The trace `traceId` from the Jaeger query API at `queryUrl` (`GET /api/traces/<id>`), or
 * undefined when Jaeger does not have it (404 or no data: traces live in memory, and spans arrive
 * a batch delay after the call). Throws when Jaeger cannot be reached, with a message saying how
 * to start it, and on any other error Jaeger reports (a malformed id is a 400).
 */
export async function fetchJaegerTrace(
  queryUrl: string,
  traceId: string,
  options: { signal?: AbortSignal } = {},
): Promise<JaegerTrace | undefined> {
  const url = new URL(`api/traces/${encodeURIComponent(traceId)}`, withSlash(queryUrl));
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  let response: Response;
  try {
    response = await fetch(url, {
      signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
    });
  } catch (err) {
    options.signal?.throwIfAborted();
    throw new Error(
      `Jaeger not reachable at ${queryUrl} (start it with npm run jaeger or npm start -- --jaeger): ` +
        `${describeFetchError(err)}`,
      { cause: err },
    );
  }
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  const body = (await response.json().catch(() => undefined)) as TracesResponse | undefined;
  if (!response.ok || body === undefined) {
    const why = body?.errors?.map((e) => e.msg).join('; ') || `HTTP ${response.status}`;
    throw new Error(`Jaeger at ${queryUrl} refused trace ${traceId}: ${why}`);
  }
  return body.data?.[0];
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

/** Options of {@link waitForJaegerTrace}. */
export interface WaitForJaegerTraceOptions {
  /** Wait until the trace has spans from each of these services (default: any span). */
  services?: readonly string[];
  /** Give up after this long (pass `scaledTimeout(ms)`: exporters batch and Jaeger stores asynchronously). */
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Polls Jaeger until trace `traceId` exists and has spans from every named service, and resolves
 * with it. On timeout the error names the services that did report, so a service that lost its
 * spans is named by its absence.
 */
export function waitForJaegerTrace(
  queryUrl: string,
  traceId: string,
  options: WaitForJaegerTraceOptions,
): Promise<JaegerTrace> {
  const wanted = options.services ?? [];
  return waitFor(
    async () => {
      const trace = await fetchJaegerTrace(queryUrl, traceId, { signal: options.signal });
      if (trace === undefined) throw new Error(`Jaeger has no trace ${traceId} yet`);
      const seen = traceServices(trace);
      const missing = wanted.filter((service) => !seen.includes(service));
      if (trace.spans.length === 0 || missing.length > 0) {
        throw new Error(
          `trace has spans from ${seen.join(', ') || 'no service'}; none yet from ${missing.join(', ')}`,
        );
      }
      return trace;
    },
    {
      timeoutMs: options.timeoutMs,
      intervalMs: 200,
      message: `trace ${traceId} in Jaeger with spans from ${wanted.join(', ') || 'any service'}`,
      signal: options.signal,
    },
  );
}

/** The services with spans in `trace`, sorted. */
export function traceServices(trace: JaegerTrace): string[] {
  const names = trace.spans.map((span) => trace.processes[span.processID]?.serviceName ?? span.processID);
  return [...new Set(names)].sort();
}
