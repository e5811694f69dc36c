import { setMaxListeners } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import {
  create,
  type DescMethod,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  type DescService,
  type Message,
  type MessageInitShape,
  type MessageShape,
} from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { context, trace, type Tracer } from '@opentelemetry/api';
import { createBreaker, type BreakerOptions } from '@wxmesh/resilience';
import {
  endRpcSpan,
  injectHeaders,
  startRpcClientSpan,
  wechatFromBaggage,
  wechatToHeaders,
  type WeChatIdentity,
} from '@wxmesh/telemetry';
import { PEER_HEADER } from './caller.js';
import { currentRpcContext } from './context.js';
import { grpcDeserializer, grpcSerializer } from './grpc-transport.js';
import { methodPath } from './service.js';

/** Per-call options of a peer client. */
export interface CallOptions {
  /** This call's own budget; the caller's incoming deadline still caps it. */
  readonly deadlineMs?: number;
  readonly signal?: AbortSignal;
  /** Identity to send; by default the identity of the call being served is forwarded. */
  readonly wechat?: WeChatIdentity;
}

/** A method of a peer service by its local name (`createSession`). */
export type MethodName<S extends DescService> = keyof S['method'] & string;

/**
 * The RPCs a service calls on one peer: declared once, beside the client that makes the calls.
 * The client offers exactly these methods, and the manifest tests read these declarations to
 * check the mesh's AuthorizationPolicies against what the code really calls.
 */
export interface PeerCalls<S extends DescService, K extends MethodName<S> = MethodName<S>> {
  readonly service: S;
  readonly methods: readonly K[];
}

/** Declares the RPCs of `service` this code calls; pass the result to {@link createPeerClient}. */
export function definePeer<S extends DescService, const K extends MethodName<S>>(
  service: S,
  methods: readonly K[],
): PeerCalls<S, K> {
  for (const name of methods) {
    if (!(name in service.method)) throw new Error(`${service.typeName} has no method ${name}`);
  }
  return { service, methods };
}

/** A typed gRPC client of one peer service: the declared methods, named as in the generated descriptor. */
export type PeerClient<S extends DescService, K extends MethodName<S> = MethodName<S>> = {
  [M in K]: S['method'][M] extends DescMethodUnary<infer I, infer O>
    ? (request: MessageInitShape<I>, options?: CallOptions) => Promise<MessageShape<O>>
    : S['method'][M] extends DescMethodServerStreaming<infer I, infer O>
      ? (request: MessageInitShape<I>, options?: CallOptions) => AsyncIterable<MessageShape<O>>
      : never;
} & { close(): void };

export interface PeerClientOptions {
  /** `host:port` of the peer's grpc port (in the mesh, the Kubernetes service name). */
  readonly address: string;
  /**
   * This service's mesh name (its service account), sent as `x-wxmesh-peer` for peers that know
   * callers by declaration (local runs). In the mesh the peer reads the mTLS identity instead.
   */
  readonly from: string;
  /** Budget of a call that sets none, before the incoming deadline caps it. */
  readonly defaultDeadlineMs?: number;
  /** Breaker options for this peer; `false` turns the breaker off (tests, health probes). */
  readonly breaker?: Partial<BreakerOptions> | false;
  /** Breaker name (metrics label); defaults to the service name. Must be unique per metrics registry. */
  readonly breakerName?: string;
  readonly tracer?: Tracer;
  readonly channelOptions?: grpc.ChannelOptions;
}

/** Status codes that say the peer (not the request) is unwell, and so count against its breaker. */
const PEER_FAILURES = new Set<number>([Code.Unavailable, Code.DeadlineExceeded, Code.Internal, Code.Unknown]);

/**
 * The error a handler sees when a peer call fails, safe to pass on to its own (edge) caller.
 *
 * grpc-js makes up the status itself for deadline, connection and protocol failures, and its
 * details name internal addresses and timings (`Deadline exceeded after 0.502s,LB pick: 0.001s,
 * remote_addr=127.0.0.1:41235`, `No connection established. Last error: connect ECONNREFUSED
 * 10.0.3.7:50051`). Its trailers carry nothing that tells those apart from a status the peer's
 * handler chose, so the codes grpc-js produces (DeadlineExceeded, Unavailable, Cancelled,
 * Internal, Unknown) get a fixed message naming the peer method; the others can only come from
 * the peer's handler, whose messages the kit already keeps caller-safe, and pass through. The
 * code is always kept; the original error stays in `cause` for this service's own log.
 */
function peerCallError(err: grpc.ServiceError, method: DescMethod): ConnectError {
  const code = err.code as number as Code;
  const peer = method.parent.name;
  const called = `${peer}.${method.name}`;
  const message =
    code === Code.DeadlineExceeded
      ? `deadline exceeded calling ${called}`
      : code === Code.Unavailable
        ? `${peer} is unavailable; retry with backoff`
        : code === Code.Canceled
          ? `the call to ${called} was cancelled`
          : code === Code.Internal || code === Code.Unknown
            ? `${called} failed; retry later`
            : err.details || `${called} failed`;
  return new ConnectError(message, code, undefined, undefined, err);
}

/**
 * Why a call this client cancelled failed: the signal's reason (the kit's DeadlineExceeded at the
 * served call's deadline, the caller's cancellation), not grpc-js's "Cancelled on client".
 */
function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new ConnectError('the call was cancelled', Code.Canceled);
}

/**
 * A client for one peer service over grpc-js with what every east-west call needs: this
 * service's peer name, the served call's WeChat identity and trace context forwarded as metadata, its deadline propagated
 * (a call never outlives its caller), a client span, and one circuit breaker per peer so a
 * dead peer fails fast with Unavailable instead of piling up timeouts.
 */
export function createPeerClient<S extends DescService, K extends MethodName<S>>(
  peer: PeerCalls<S, K>,
  options: PeerClientOptions,
): PeerClient<S, K> {
  const { service } = peer;
  const declared = new Set<string>(peer.methods);
  const client = new grpc.Client(options.address, grpc.credentials.createInsecure(), options.channelOptions);
  const tracer = options.tracer ?? trace.getTracer('wxmesh-peer-client');
  const defaultDeadlineMs = options.defaultDeadlineMs ?? 5_000;
  const methods: Record<string, unknown> = {};
  const codecs = new Map(
    service.methods.map((m) => [
      m,
      {
        path: methodPath(m),
        serialize: grpcSerializer(m.input),
        deserialize: grpcDeserializer(m.output),
      },
    ]),
  );

  /** What every outgoing call starts with: identity, deadline, client span, metadata. */
  const begin = (method: DescMethod, callOptions: CallOptions | undefined, fallbackDeadlineMs: number) => {
    const active = context.active();
    const served = currentRpcContext(active);
    const wechat = callOptions?.wechat ?? served?.wechat ?? wechatFromBaggage(active);
    let deadline = Date.now() + (callOptions?.deadlineMs ?? fallbackDeadlineMs);
    if (served?.deadline !== undefined && served.deadline < deadline) deadline = served.deadline;
    const span = startRpcClientSpan(tracer, {
      system: 'grpc',
      service: service.typeName,
      method: method.name,
      parentContext: active,
      wechat,
    });
    const metadata = new grpc.Metadata();
    const set = (name: string, value: string) => metadata.set(name, value);
    set(PEER_HEADER, options.from);
    wechatToHeaders(wechat, set);
    injectHeaders(set, span.context);
    return { span, metadata, deadline };
  };

  const unaryCall = (
    method: DescMethod,
    signal: AbortSignal,
    request: Message,
    callOptions?: CallOptions,
  ) => {
    // Nothing starts for a call already given up on (the breaker checks too; without it, this does).
    if (signal.aborted) return Promise.reject(abortReason(signal));
    const { span, metadata, deadline } = begin(method, callOptions, defaultDeadlineMs);
    const codec = codecs.get(method)!;
    return new Promise<Message>((resolve, reject) => {
      const call = client.makeUnaryRequest<Message, Message>(
        codec.path,
        codec.serialize,
        codec.deserialize,
        request,
        metadata,
        { deadline },
        (err, response) => {
          signal.removeEventListener('abort', cancel);
          if (err) {
            const error = peerCallError(err, method);
            endRpcSpan(span.span, { code: error.code, message: error.rawMessage });
            reject(signal.aborted ? abortReason(signal) : error);
          } else {
            endRpcSpan(span.span, { code: 0 });
            resolve(response!);
          }
        },
      );
      const cancel = () => call.cancel();
      signal.addEventListener('abort', cancel, { once: true });
    });
  };

  // One breaker per peer: its health is one fact, whichever method noticed it.
  const breaker =
    options.breaker === false
      ? undefined
      : createBreaker(
          options.breakerName ?? service.typeName,
          (signal: AbortSignal, method: DescMethod, request: Message, callOptions?: CallOptions) =>
            unaryCall(method, signal, request, callOptions),
          {
            // The gRPC deadline bounds each call; the breaker's own timeout would only duplicate it.
            timeout: false,
            isFailure: (err: unknown) => !(err instanceof ConnectError) || PEER_FAILURES.has(err.code),
            ...options.breaker,
          },
        );
  // Never aborted; every in-flight call without a signal of its own listens on it.
  const unbroken = new AbortController().signal;
  setMaxListeners(0, unbroken);

  for (const method of service.methods) {
    if (!declared.has(method.localName)) continue;
    if (method.methodKind === 'unary') {
      methods[method.localName] = (init: unknown, callOptions?: CallOptions) => {
        const request = create(method.input, init as never);
        return breaker
          ? breaker.fireWithSignal(callOptions?.signal, method, request, callOptions)
          : unaryCall(method, callOptions?.signal ?? unbroken, request, callOptions);
      };
    } else if (method.methodKind === 'server_streaming') {
      methods[method.localName] = (init: unknown, callOptions?: CallOptions) =>
        serverStream(method, create(method.input, init as never), callOptions);
    }
  }

  async function* serverStream(method: DescMethod, request: Message, callOptions?: CallOptions) {
    // A stream has no deadline of its own unless asked for; the caller's deadline still caps it.
    const { span, metadata, deadline } = begin(method, callOptions, Number.MAX_SAFE_INTEGER / 2);
    const codec = codecs.get(method)!;
    const call = client.makeServerStreamRequest<Message, Message>(
      codec.path,
      codec.serialize,
      codec.deserialize,
      request,
      metadata,
      deadline > Date.now() + 365 * 86_400_000 ? {} : { deadline },
    );
    const cancel = () => call.cancel();
    callOptions?.signal?.addEventListener('abort', cancel, { once: true });
    let code = 0;
    try {
      for await (const message of call) yield message as Message;
    } catch (err) {
      const error = peerCallError(err as grpc.ServiceError, method);
      code = error.code;
      throw callOptions?.signal?.aborted ? abortReason(callOptions.signal) : error;
    } finally {
      callOptions?.signal?.removeEventListener('abort', cancel);
      call.cancel();
      endRpcSpan(span.span, { code });
    }
  }

  methods.close = () => {
    breaker?.shutdown();
    client.close();
  };
  return methods as PeerClient<S, K>;
}
