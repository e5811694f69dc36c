import { Code, ConnectError } from '@connectrpc/connect';
import type { EndReason } from './session-record.js';

const END_MESSAGES: Record<EndReason, string> = {
  logout: 'the session was logged out',
  expiry: 'the session expired',
  eviction: 'the session was replaced by a newer login',
  revocation: 'the session was revoked',
};

/**
 * How a live channel of a session that ended is closed: Unauthenticated, saying why, so the
 * client knows to log in again rather than reconnect. An unknown reason (from a newer replica's
 * relay message) still closes the channel.
 */
export function sessionEndedError(reason: EndReason): ConnectError {
  return new ConnectError(
    `${END_MESSAGES[reason] ?? 'the session ended'}; log in again`,
    Code.Unauthenticated,
  );
}

/** How a channel whose client stopped reading is closed: its buffer of `capacity` messages is full. */
export function channelOverflowError(capacity: number): ConnectError {
  return new ConnectError(
    `live channel buffer full (${capacity} messages): the client is not reading; reconnect`,
    Code.ResourceExhausted,
  );
}

/** Why a replica that is shutting down refuses a new channel. */
export function replicaShuttingDownError(): ConnectError {
  return new ConnectError('server is shutting down; reconnect to another replica', Code.Unavailable);
}
