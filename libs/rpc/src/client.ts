import type * as grpc from '@grpc/grpc-js';
import {
  create,
  type DescMethod,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from '@bufbuild/protobuf';
import type { Tracer } from '@opentelemetry/api';
import type { BreakerOptions } from '@wxmesh/resilience';
import { openPeerChannel, type CallOptions, type PeerChannel } from './peer-channel.js';
import { callServerStream } from './peer-server-stream.js';
import { createUnaryInvoker, type UnaryInvoker } from './peer-unary-call.js';

export type { CallOptions } from './peer-channel.js';

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
  const channel = openPeerChannel(peer.service, options);
  const unary = createUnaryInvoker(channel, options);
  const declared = new Set<string>(peer.methods);
  const methods: Record<string, unknown> = {};
  for (const method of peer.service.methods) {
    if (!declared.has(method.localName)) continue;
    const call = peerMethod(channel, unary, method);
    if (call) methods[method.localName] = call;
  }
  methods.close = () => {
    unary.shutdown();
    channel.client.close();
  };
  return methods as PeerClient<S, K>;
}

/** The client function of one method: unary through the invoker, server streaming as an iterable. */
function peerMethod(channel: PeerChannel, unary: UnaryInvoker, method: DescMethod) {
  if (method.methodKind === 'unary') {
    return (init: unknown, callOptions?: CallOptions) =>
      unary.invoke(method, create(method.input, init as never), callOptions);
  }
  if (method.methodKind === 'server_streaming') {
    return (init: unknown, callOptions?: CallOptions) =>
      callServerStream(channel, method, create(method.input, init as never), callOptions);
  }
  return undefined;
}
