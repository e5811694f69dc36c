import type { UserPresence } from '../adapters/presence-store.js';
import type { RelayedMessage } from '../adapters/relay.js';
import { sessionEndedError } from '../domain/channel-errors.js';
import type { EndReason, SessionView } from '../domain/session-record.js';
import { attachChannel } from './attach-channel.js';
import { deliverMessage, endSessionChannels } from './deliver-message.js';
import { startHeartbeat } from './presence-heartbeat.js';
import { newReplicaState, type ReplicaOptions } from './replica-state.js';
import { withdrawReplica } from './withdraw-replica.js';

export type { ReplicaOptions } from './replica-state.js';

/**
 * This replica's part in presence and live delivery, bound to one explicit state: it opens and
 * closes channels (reporting UserOnline/UserOffline), heartbeats, reaps replicas that died,
 * delivers to users wherever they are attached, and withdraws everything at once when the
 * process is asked to stop.
 */
export function createReplica(options: ReplicaOptions) {
  const state = newReplicaState(options);
  return {
    replicaId: state.replicaId,
    /** See {@link startHeartbeat}. */
    start: () => startHeartbeat(state),
    /** See {@link attachChannel}. */
    attach: (session: SessionView, signal: AbortSignal, abort: (reason: Error) => void) =>
      attachChannel(state, session, signal, abort),
    /** Presence of users, in order. */
    read: (openids: readonly string[]): Promise<UserPresence[]> => state.presence.read(openids, state.now()),
    /** See {@link deliverMessage}. */
    deliver: (openid: string, message: RelayedMessage, deadline: number | undefined) =>
      deliverMessage(state, openid, message, deadline),
    /** Closes a session's channels wherever they are, with Unauthenticated. */
    endSessionChannels: (openid: string, sessionId: string, reason: EndReason) =>
      endSessionChannels(state, openid, sessionId, reason),
    /** Handles a relayed delivery for this replica's channels. */
    deliverHere: (openid: string, message: RelayedMessage, until: number): Promise<number> =>
      state.hub.deliver(openid, message, until, state.overflow),
    /** Handles a relayed session end for this replica's channels. */
    endSessionHere: (openid: string, sessionId: string, reason: string): void =>
      state.hub.endSession(openid, sessionId, sessionEndedError(reason as EndReason)),
    /** See {@link withdrawReplica}. */
    withdraw: () => withdrawReplica(state),
  };
}

/** This replica's presence and live-delivery use cases. */
export type Replica = ReturnType<typeof createReplica>;
