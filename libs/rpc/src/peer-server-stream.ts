import type * as grpc from '@grpc/grpc-js';
import type { DescMethod, Message } from '@bufbuild/protobuf';
import { endRpcSpan } from '@wxmesh/telemetry';
import { abortReason, peerCallError } from './peer-call-error.js';
import { startPeerCall, type CallOptions, type PeerChannel } from './peer-channel.js';

/** A deadline further away than this is the fallback of a stream that set none, and is sent as none. */
const FAR_FUTURE_MS = 365 * 86_400_000;

/**
 * A server-streaming call to the peer, as an async iterable of its messages. A stream has no
 * deadline of its own unless `callOptions.deadlineMs` asks for one; the served call's deadline still
 * caps it. Leaving the loop early, or aborting `callOptions.signal`, cancels the call.
 */
export async function* callServerStream(
  channel: PeerChannel,
  method: DescMethod,
  request: Message,
  callOptions?: CallOptions,
): AsyncGenerator<Message> {
  const { span, metadata, deadline, codec } = startPeerCall(
    channel,
    method,
    callOptions,
    Number.MAX_SAFE_INTEGER / 2,
  );
  const call = channel.client.makeServerStreamRequest<Message, Message>(
    codec.path,
    codec.serialize,
    codec.deserialize,
    request,
    metadata,
    deadline > Date.now() + FAR_FUTURE_MS ? {} : { deadline },
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
