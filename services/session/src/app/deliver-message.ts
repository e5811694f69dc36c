import type { RelayedMessage } from '../adapters/relay.js';
import { sessionEndedError } from '../domain/channel-errors.js';
import type { EndReason } from '../domain/session-record.js';
import type { ReplicaState } from './replica-state.js';

/** What a delivery achieved: whether the user had live channels, and how many took the message. */
export interface DeliverResult {
  readonly online: boolean;
  readonly written: number;
}

/**
 * Delivers to every live channel of a user, here and on other replicas; resolves with the
 * number of channels that took it and whether the user had any. Waits at most the replica's
 * deliver timeout, capped by the caller's `deadline` (epoch ms).
 */
export async function deliverMessage(
  state: ReplicaState,
  openid: string,
  message: RelayedMessage,
  deadline: number | undefined,
): Promise<DeliverResult> {
  const at = state.now();
  const until = Math.min(at + state.deliverTimeoutMs, deadline ?? Number.POSITIVE_INFINITY);
  const [user] = await state.presence.read([openid], at);
  if (user!.channelCount === 0) return { online: false, written: 0 };
  const counts = await Promise.all(
    [...user!.replicas.keys()].map((target) =>
      target === state.replicaId
        ? state.hub.deliver(openid, message, until, state.overflow)
        : state.relay.deliver(target, openid, message, until, at),
    ),
  );
  return { online: true, written: counts.reduce((a, b) => a + b, 0) };
}

/** Closes a session's channels wherever they are, with Unauthenticated. */
export async function endSessionChannels(
  state: ReplicaState,
  openid: string,
  sessionId: string,
  reason: EndReason,
): Promise<void> {
  const [user] = await state.presence.read([openid], state.now());
  await Promise.all(
    [...user!.replicas.keys()].map((target) =>
      target === state.replicaId
        ? state.hub.endSession(openid, sessionId, sessionEndedError(reason))
        : state.relay.sessionEnded(target, openid, sessionId, reason),
    ),
  );
}
