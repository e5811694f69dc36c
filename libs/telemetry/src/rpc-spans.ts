import {
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Exception,
  type Span,
  type SpanOptions,
  type Tracer,
} from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_EXCEPTION_TYPE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_RPC_CONNECT_RPC_ERROR_CODE,
  ATTR_RPC_GRPC_STATUS_CODE,
  ATTR_RPC_METHOD,
  ATTR_RPC_SERVICE,
  ATTR_RPC_SYSTEM,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from './attributes.js';
import { setWeChatAttributes, type WeChatIdentity } from './wechat-identity.js';

/** `rpc.system`: grpc-js calls (and gRPC-Web) are `grpc`, the Connect protocol is `connect_rpc`. */
export type RpcSystem = 'grpc' | 'connect_rpc';

/** The other end of a call: a grpc-js `getPeer()` string (`ipv4:10.0.0.7:50051`, `[::1]:5`) or its parts. */
export type RpcPeer = string | { readonly address: string; readonly port?: number };

/** What {@link startRpcServerSpan} and {@link startRpcClientSpan} need to know about a call. */
export interface RpcSpanOptions {
  readonly system: RpcSystem;
  /** Fully-qualified service, e.g. `wxmesh.session.v1.SessionService`. */
  readonly service: string;
  /** Method name as in the proto, e.g. `CreateSession`. */
  readonly method: string;
  /** Server: the context extracted from the request. Client: the caller's active context. */
  readonly parentContext: Context;
  readonly wechat?: WeChatIdentity | undefined;
  /** Server: the calling client. Client: the target, recorded as `server.address`/`server.port`. */
  readonly peer?: RpcPeer | undefined;
  /** Span name if precomputed; defaults to `${service}/${method}` as semconv prescribes. */
  readonly name?: string | undefined;
}

/** A started RPC span and the context to run the call (server) or inject into headers (client) under. */
export interface RpcSpan {
  readonly span: Span;
  readonly context: Context;
}

/** How a call ended, for {@link endRpcSpan}. */
export interface RpcSpanEnd {
  /** gRPC status code (0 OK ... 16 Unauthenticated); Connect codes use the same numbers. */
  readonly code: number;
  /**
   * Status message shown in Jaeger when the code counts as an error. It must already be safe
   * to show (no secrets, no personal data); defaults to the code name, e.g. `UNAVAILABLE`.
   */
  readonly message?: string | undefined;
  /**
   * The error, if any. Only its type name is recorded (an `exception` event with
   * `exception.type`), never its message or stack, which may carry secrets...
   */
  readonly error?: unknown;
  /** ...unless the caller vouches for it: then the full exception, stack included, is recorded. */
  readonly errorIsSafe?: boolean | undefined;
}

const GRPC_CODE_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/** `rpc.connect_rpc.error_code` values as the semconv registry spells them (note `cancelled`). */
const CONNECT_CODE_NAMES = GRPC_CODE_NAMES.map((name) => name.toLowerCase());

/** Server-side codes the gRPC semconv counts as errors; the rest are the client's fault. */
const SERVER_ERROR_CODES: readonly boolean[] = GRPC_CODE_NAMES.map((_, code) =>
  [2, 4, 12, 13, 14, 15].includes(code),
);

const MESSAGE_MAX_LENGTH = 512;
const SERVER_OPTIONS: SpanOptions = Object.freeze({ kind: SpanKind.SERVER });
const CLIENT_OPTIONS: SpanOptions = Object.freeze({ kind: SpanKind.CLIENT });
const CLIENT = 1;
const CONNECT = 2;

/**
 * What endRpcSpan must know about a recording span it created (client or server, gRPC or
 * Connect), stored on the span under a private symbol. A WeakMap would do the same, but a weak
 * entry per call makes every garbage collection walk its ephemeron table, which showed up as a
 * measurable share of the kit's per-call CPU.
 */
const FLAGS = Symbol('wxmesh.rpc-span.flags');
type FlaggedSpan = Span & { [FLAGS]?: number };

/**
 * Opens the SERVER span of an incoming call, a child of the caller's span carried in
 * `parentContext` (from {@link extractContext}), with the rpc semconv attributes and the
 * WeChat identity. Run the handler under the returned context and close the span with
 * {@link endRpcSpan}. Cheap when tracing is off: no attribute is built unless the span records.
 */
export function startRpcServerSpan(tracer: Tracer, options: RpcSpanOptions): RpcSpan {
  return startRpcSpan(tracer, options, false);
}

/**
 * Opens the CLIENT span of an outgoing call. Inject the returned context into the request
 * headers ({@link injectHeaders}) so the server's span becomes its child, and close the span
 * with {@link endRpcSpan} when the call settles.
 */
export function startRpcClientSpan(tracer: Tracer, options: RpcSpanOptions): RpcSpan {
  return startRpcSpan(tracer, options, true);
}

function startRpcSpan(tracer: Tracer, options: RpcSpanOptions, client: boolean): RpcSpan {
  const parent = options.parentContext;
  const span = tracer.startSpan(
    options.name ?? `${options.service}/${options.method}`,
    client ? CLIENT_OPTIONS : SERVER_OPTIONS,
    parent,
  );
  if (!span.isRecording()) {
    // A no-op tracer hands back the parent's own span context: the parent context already says it all.
    if (span.spanContext() === trace.getSpanContext(parent)) return { span, context: parent };
    return { span, context: trace.setSpan(parent, span) };
  }
  const connect = options.system === 'connect_rpc';
  (span as FlaggedSpan)[FLAGS] = (client ? CLIENT : 0) | (connect ? CONNECT : 0);
  span.setAttribute(ATTR_RPC_SYSTEM, options.system);
  span.setAttribute(ATTR_RPC_SERVICE, options.service);
  span.setAttribute(ATTR_RPC_METHOD, options.method);
  if (options.peer !== undefined) setPeer(span, options.peer, client);
  setWeChatAttributes(span, options.wechat);
  return { span, context: trace.setSpan(parent, span) };
}

/**
 * Records the outcome and ends the span. Sets `rpc.grpc.status_code` (gRPC) or
 * `rpc.connect_rpc.error_code` (Connect, on failure). The span status becomes ERROR, with
 * `error.type` set to the code name, for any non-OK code on a client span and for UNKNOWN,
 * DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS on a server span (the
 * others are the caller's mistakes, not the server's failures). Nothing from `error` but its
 * type name is recorded unless `errorIsSafe` is set. Works on any span; one not opened by
 * startRpc*Span is treated as a gRPC client span.
 */
export function endRpcSpan(span: Span, end: RpcSpanEnd): void {
  if (!span.isRecording()) {
    span.end();
    return;
  }
  const flags = (span as FlaggedSpan)[FLAGS] ?? CLIENT;
  const code = end.code;
  const known = Number.isInteger(code) && code >= 0 && code < GRPC_CODE_NAMES.length;
  if ((flags & CONNECT) === 0) {
    span.setAttribute(ATTR_RPC_GRPC_STATUS_CODE, code);
  } else if (code !== 0) {
    span.setAttribute(ATTR_RPC_CONNECT_RPC_ERROR_CODE, known ? CONNECT_CODE_NAMES[code]! : 'unknown');
  }
  if (code !== 0 && ((flags & CLIENT) !== 0 || !known || SERVER_ERROR_CODES[code])) {
    const name = known ? GRPC_CODE_NAMES[code]! : '_OTHER';
    span.setAttribute(ATTR_ERROR_TYPE, name);
    span.setStatus({ code: SpanStatusCode.ERROR, message: boundMessage(end.message) ?? name });
    if (end.error !== undefined) recordError(span, end.error, end.errorIsSafe === true);
  }
  span.end();
}

function recordError(span: Span, error: unknown, safe: boolean): void {
  if (safe) {
    span.recordException(error as Exception);
    return;
  }
  const rawType = error instanceof Error ? error.name : typeof error;
  const type = /^[\x21-\x7e]{1,128}$/.test(rawType) ? rawType : 'Error';
  span.addEvent('exception', { [ATTR_EXCEPTION_TYPE]: type });
}

function boundMessage(message: string | undefined): string | undefined {
  if (message === undefined || message.length === 0) return undefined;
  return message.length > MESSAGE_MAX_LENGTH ? `${message.slice(0, MESSAGE_MAX_LENGTH - 1)}…` : message;
}

function setPeer(span: Span, peer: RpcPeer, client: boolean): void {
  const { address, port } = typeof peer === 'string' ? parsePeer(peer) : peer;
  if (address === '') return;
  span.setAttribute(client ? ATTR_SERVER_ADDRESS : ATTR_NETWORK_PEER_ADDRESS, address);
  if (port !== undefined) span.setAttribute(client ? ATTR_SERVER_PORT : ATTR_NETWORK_PEER_PORT, port);
}

/**
 * Splits the address strings grpc-js and gRPC target names use: `ipv4:1.2.3.4:5`,
 * `ipv6:[::1]:5`, `[::1]:5`, `dns:///host:5`, `unix:/run/x.sock`, `host:5`, `host`.
 * Hand-written because it is a few lines and runs only for recording spans.
 */
export function parsePeer(peer: string): { address: string; port?: number } {
  const rest = peer.replace(/^(?:ipv4:|ipv6:|dns:(?:\/\/[^/]*\/)?)/, '');
  if (rest.startsWith('unix:')) return { address: rest.slice('unix:'.length) };
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close > 0) {
      const port = toPort(rest.slice(close + 2));
      const address = rest.slice(1, close);
      return port === undefined ? { address } : { address, port };
    }
  }
  const colon = rest.lastIndexOf(':');
  if (colon > 0 && rest.indexOf(':') === colon) {
    const port = toPort(rest.slice(colon + 1));
    if (port !== undefined) return { address: rest.slice(0, colon), port };
  }
  return { address: rest };
}

function toPort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}
