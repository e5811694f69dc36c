import { Code, ConnectError } from '@connectrpc/connect';
import { unavailableDependency, type Dependency } from './dependencies.js';

/** Errors that already carry a precise, caller-safe meaning and map straight to a code. */
interface CodedError {
  name: string;
  message: string;
}

function isNamed(err: unknown, name: string): err is CodedError {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === name;
}

/**
 * Maps anything a handler throws to the error the caller sees.
 *
 * A ConnectError keeps its code and message on every transport. Known infrastructure
 * failures get the code a client can act on (an open breaker is Unavailable, a passed deadline
 * is DeadlineExceeded, the call's own cancellation is Canceled, a dependency out of reach is
 * Unavailable). Past the deadline, any unexpected failure is reported as DeadlineExceeded: the
 * caller has stopped waiting, and what broke was almost always the abort itself. Everything else
 * becomes Internal with a fixed message, because an
 * unexpected exception's message can carry internals or secrets; the original is returned in
 * `cause` for the server's own log only.
 */
export function toConnectError(
  err: unknown,
  deadline: number | undefined,
  signal?: AbortSignal,
  dependencies: readonly Dependency[] = [],
): { error: ConnectError; unexpected: boolean } {
  if (err instanceof ConnectError) return { error: err, unexpected: false };
  const expired = deadline !== undefined && Date.now() >= deadline;
  // The call's own signal fired (the caller went away), or, where the transport made no signal (a
  // grpc-js unary call), an abort before the deadline: the failure is the cancellation itself.
  const cancelled =
    signal === undefined ? isNamed(err, 'AbortError') : signal.aborted && err === signal.reason;
  if (cancelled && !expired) {
    return { error: new ConnectError('the call was cancelled', Code.Canceled), unexpected: false };
  }
  if (isNamed(err, 'BreakerOpenError')) {
    return {
      error: new ConnectError(
        'a dependency is unavailable (circuit open); retry with backoff',
        Code.Unavailable,
      ),
      unexpected: false,
    };
  }
  const dependency = unavailableDependency(dependencies, err);
  if (expired) {
    const known = dependency !== undefined || isNamed(err, 'AbortError') || isNamed(err, 'TimeoutError');
    return { error: new ConnectError('deadline exceeded', Code.DeadlineExceeded), unexpected: !known };
  }
  if (dependency !== undefined) {
    return {
      error: new ConnectError(`${dependency.name} is unavailable; retry with backoff`, Code.Unavailable),
      unexpected: false,
    };
  }
  return { error: new ConnectError('internal error', Code.Internal), unexpected: true };
}

/** The canonical lower-case name of a status code as Connect spells it on the wire (`invalid_argument`); 0 is `ok`. */
export function codeName(code: number): string {
  const name = Code[code];
  return name === undefined
    ? code === 0
      ? 'ok'
      : `code_${code}`
    : name.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}
