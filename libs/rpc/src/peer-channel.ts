import * as grpc from '@grpc/grpc-js';
import type { DescMethod, DescService, Message } from '@bufbuild/protobuf';
import { context, trace, type Tracer } from '@opentelemetry/api';
import {
  injectHeaders,
  startRpcClientSpan,
  wechatFromBaggage,
  wechatToHeaders,
  type RpcSpan,
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

/** How one method's messages go on the wire, in the shape grpc-js takes them. */
export interface MethodCodec {
  readonly path: string;
  readonly serialize: (message: Message) => Buffer;
  readonly deserialize: (bytes: Buffer) => Message;
}

/** Everything a call to one peer needs, made once per client and shared by its calls. */
export interface PeerChannel {
  readonly client: grpc.Client;
  /** The peer's fully-qualified service name (span attribute, default breaker name). */
  readonly serviceName: string;
  /** This service's mesh name, sent as `x-wxmesh-peer`. */
  readonly from: string;
  readonly tracer: Tracer;
  /** Budget of a unary call that sets none, before the incoming deadline caps it. */
  readonly defaultDeadlineMs: number;
  readonly codecs: ReadonlyMap<DescMethod, MethodCodec>;
}

/** What {@link openPeerChannel} needs: the connection part of the client's options. */
export interface PeerChannelOptions {
  readonly address: string;
  readonly from: string;
  readonly defaultDeadlineMs?: number;
  readonly tracer?: Tracer;
  readonly channelOptions?: grpc.ChannelOptions;
}

/** Opens the grpc-js channel to a peer and prepares the codecs of every method of its service. */
export function openPeerChannel(service: DescService, options: PeerChannelOptions): PeerChannel {
  return {
    client: new grpc.Client(options.address, grpc.credentials.createInsecure(), options.channelOptions),
    serviceName: service.typeName,
    from: options.from,
    tracer: options.tracer ?? trace.getTracer('wxmesh-peer-client'),
    defaultDeadlineMs: options.defaultDeadlineMs ?? 5_000,
    codecs: new Map(service.methods.map((method) => [method, methodCodec(method)])),
  };
}

function methodCodec(method: DescMethod): MethodCodec {
  return {
    path: methodPath(method),
    serialize: grpcSerializer(method.input),
    deserialize: grpcDeserializer(method.output),
  };
}

/** A call about to be made: its client span, outgoing metadata, absolute deadline and codec. */
export interface StartedPeerCall {
  readonly span: RpcSpan;
  readonly metadata: grpc.Metadata;
  /** Epoch ms: the call's own budget, capped by the deadline of the call being served. */
  readonly deadline: number;
  readonly codec: MethodCodec;
}

/**
 * What every outgoing call starts with: the identity to forward (the caller's choice, else the
 * served call's, else the baggage's), the deadline (never later than the served call's), a client
 * span, and metadata carrying this service's peer name, the identity and the trace context.
 */
export function startPeerCall(
  channel: PeerChannel,
  method: DescMethod,
  callOptions: CallOptions | undefined,
  fallbackDeadlineMs: number,
): StartedPeerCall {
  const active = context.active();
  const served = currentRpcContext(active);
  const wechat = callOptions?.wechat ?? served?.wechat ?? wechatFromBaggage(active);
  let deadline = Date.now() + (callOptions?.deadlineMs ?? fallbackDeadlineMs);
  if (served?.deadline !== undefined && served.deadline < deadline) deadline = served.deadline;
  const span = startRpcClientSpan(channel.tracer, {
    system: 'grpc',
    service: channel.serviceName,
    method: method.name,
    parentContext: active,
    wechat,
  });
  const metadata = new grpc.Metadata();
  const set = (name: string, value: string) => metadata.set(name, value);
  set(PEER_HEADER, channel.from);
  wechatToHeaders(wechat, set);
  injectHeaders(set, span.context);
  return { span, metadata, deadline, codec: channel.codecs.get(method)! };
}
