import { Code, ConnectError } from '@connectrpc/connect';

// What must never reach a caller outside the mesh: peer and dependency addresses (grpc-js writes
// `remote_addr=10.0.3.7:50051` into deadline errors, node `connect ECONNREFUSED 10.0.3.7:6379`),
// URLs, socket error codes, and stack frames or source paths.
const INTERNAL_DETAIL = [
  /\b(?:remote|local)_addr=/i,
  /\b(?:\d{1,3}\.){3}\d{1,3}\b/,
  /\[[0-9a-f:.]*:[0-9a-f:.]*\](?::\d+)?/i,
  /\b[a-z][\w.-]*:\d{2,5}\b(?!:)/i,
  /\b[a-z][a-z\d+.-]*:\/\/\S/i,
  /\bE(?:CONN\w+|NOTFOUND|AI_AGAIN|HOSTUNREACH|NETUNREACH|TIMEDOUT|PIPE|ADDRNOTAVAIL)\b/,
  /\n\s*at\s|\bat\s\S+\s\(\S+:\d+:\d+\)/,
  /(?:\/[\w.@-]+){2,}\.(?:[cm]?[jt]s)\b/,
];

/** The message an edge caller gets instead, per code; the code itself is kept. */
const GENERIC: Partial<Record<Code, string>> = {
  [Code.DeadlineExceeded]: 'deadline exceeded',
  [Code.Unavailable]: 'a dependency is unavailable; retry with backoff',
  [Code.Canceled]: 'the call was cancelled',
  [Code.ResourceExhausted]: 'resources are exhausted; retry with backoff',
  [Code.Internal]: 'internal error',
  [Code.Unknown]: 'internal error',
};

/**
 * The error as an edge caller (the http port) may see it. A handler passes a peer's or a
 * dependency's ConnectError through unchanged (its code is what the caller can act on), and
 * those messages carry internal addresses; such a message is replaced by a fixed one for its
 * code, without the error's metadata. Anything else is returned as it is.
 */
export function edgeSafeError(err: unknown): unknown {
  if (!(err instanceof ConnectError)) return err;
  const message = err.rawMessage;
  if (!INTERNAL_DETAIL.some((pattern) => pattern.test(message))) return err;
  return new ConnectError(GENERIC[err.code] ?? 'the call failed', err.code);
}
