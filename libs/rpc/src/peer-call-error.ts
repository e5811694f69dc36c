import type * as grpc from '@grpc/grpc-js';
import type { DescMethod } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';

/** Status codes that say the peer (not the request) is unwell, and so count against its breaker. */
const PEER_FAILURES = new Set<number>([Code.Unavailable, Code.DeadlineExceeded, Code.Internal, Code.Unknown]);

/**
 * Whether a failed peer call says the peer itself is unwell: anything that is not a
 * `ConnectError`, or one with a code the peer (not the request) is to blame for. The peer's
 * breaker counts only these; an InvalidArgument or NotFound is a healthy answer.
 */
export function isPeerFailure(err: unknown): boolean {
  return !(err instanceof ConnectError) || PEER_FAILURES.has(err.code);
}

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
export function peerCallError(err: grpc.ServiceError, method: DescMethod): ConnectError {
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
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new ConnectError('the call was cancelled', Code.Canceled);
}
