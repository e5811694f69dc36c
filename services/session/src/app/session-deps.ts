import { Code, ConnectError } from '@connectrpc/connect';
import type { Logger } from '@wxmesh/rpc';
import type { EventSink } from '../adapters/event-sink.js';
import type { SessionStore } from '../adapters/session-store.js';
import type { EndReason, SessionPolicy } from '../domain/session-record.js';
import type { RandomBytes } from '../domain/token.js';

/** How the session use cases close live channels of a session that ended (wired to the replica). */
export type SessionEndedHook = (openid: string, sessionId: string, reason: EndReason) => Promise<void>;

/** What the session use cases work with; built once by main.ts. */
export interface SessionDeps {
  readonly store: SessionStore;
  readonly events: EventSink;
  readonly policy: SessionPolicy;
  readonly now: () => number;
  readonly random: RandomBytes;
  /** How long the normal path has to emit before the sweeper takes over. */
  readonly eventLeaseMs: number;
  readonly onSessionEnded: SessionEndedHook;
  readonly logger: Logger;
}

/** NotFound for a token with no live session behind it: the caller should log in again. */
export function unknownTokenError(): ConnectError {
  return new ConnectError('session token is unknown, expired or revoked; log in again', Code.NotFound);
}
