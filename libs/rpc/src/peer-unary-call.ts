import { setMaxListeners } from 'node:events';
import type { DescMethod, Message } from '@bufbuild/protobuf';
import { createBreaker, type BreakerOptions } from '@wxmesh/resilience';
import { endRpcSpan } from '@wxmesh/telemetry';
import { abortReason, isPeerFailure, peerCallError } from './peer-call-error.js';
import { startPeerCall, type CallOptions, type PeerChannel } from './peer-channel.js';

/**
 * One unary call to the peer, cancelled when `signal` aborts. It fails with the signal's reason
 * when it was cancelled, else with {@link peerCallError}'s caller-safe error, and ends its span
 * either way.
 */
export function callUnary(
  channel: PeerChannel,
  method: DescMethod,
  signal: AbortSignal,
  request: Message,
  callOptions?: CallOptions,
): Promise<Message> {
  // Nothing starts for a call already given up on (the breaker checks too; without it, this does).
  if (signal.aborted) return Promise.reject(abortReason(signal));
  const { span, metadata, deadline, codec } = startPeerCall(
    channel,
    method,
    callOptions,
    channel.defaultDeadlineMs,
  );
  return new Promise<Message>((resolve, reject) => {
    const call = channel.client.makeUnaryRequest<Message, Message>(
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
}

/** Makes the unary calls of one peer client, through its breaker when it has one. */
export interface UnaryInvoker {
  invoke(method: DescMethod, request: Message, callOptions?: CallOptions): Promise<Message>;
  /** Stops the breaker (its timers and metric series); the channel is closed by its owner. */
  shutdown(): void;
}

/** The breaker part of the client's options. */
export interface UnaryInvokerOptions {
  /** Breaker options for this peer; `false` turns the breaker off. */
  readonly breaker?: Partial<BreakerOptions> | false;
  /** Breaker name (metrics label); defaults to the peer's service name. */
  readonly breakerName?: string;
}

/**
 * The unary calls of one peer client. One breaker per peer: its health is one fact, whichever
 * method noticed it. Only {@link isPeerFailure} errors count against it, and it sets no timeout of
 * its own because the gRPC deadline already bounds each call.
 */
export function createUnaryInvoker(channel: PeerChannel, options: UnaryInvokerOptions): UnaryInvoker {
  if (options.breaker === false) return unguardedInvoker(channel);
  const breaker = createBreaker(
    options.breakerName ?? channel.serviceName,
    (signal: AbortSignal, method: DescMethod, request: Message, callOptions?: CallOptions) =>
      callUnary(channel, method, signal, request, callOptions),
    { timeout: false, isFailure: isPeerFailure, ...options.breaker },
  );
  return {
    invoke: (method, request, callOptions) =>
      breaker.fireWithSignal(callOptions?.signal, method, request, callOptions),
    shutdown: () => breaker.shutdown(),
  };
}

function unguardedInvoker(channel: PeerChannel): UnaryInvoker {
  // Never aborted; every in-flight call without a signal of its own listens on it.
  const unbroken = new AbortController().signal;
  setMaxListeners(0, unbroken);
  return {
    invoke: (method, request, callOptions) =>
      callUnary(channel, method, callOptions?.signal ?? unbroken, request, callOptions),
    shutdown: () => {},
  };
}
