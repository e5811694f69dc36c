import { randomBytes } from 'node:crypto';
import { LiveChannel } from '../adapters/live-channel.js';
import { replicaShuttingDownError } from '../domain/channel-errors.js';
import { userOnline } from '../domain/events.js';
import type { SessionView } from '../domain/session-record.js';
import { reportOffline, type ReplicaState } from './replica-state.js';

/** Records a channel in presence; reports UserOnline when it is the user's first live one. */
export async function registerChannel(state: ReplicaState, channel: LiveChannel): Promise<void> {
  const { presence, replicaId } = state;
  const at = state.now();
  const live = await presence.liveReplicas(at);
  if (!live.includes(replicaId)) live.push(replicaId);
  const entry = { replicaId, sessionId: channel.sessionId, appid: channel.appid, attachedAt: at };
  const before = await presence.attach(channel.openid, channel.channelId, entry, live, at);
  if (before === 0) await state.events.emit(userOnline({ ...channel, replicaId }, at));
}

/** Removes a closed channel from presence; reports UserOffline when it was the user's last. */
async function unregisterChannel(state: ReplicaState, channel: LiveChannel): Promise<void> {
  if (channel.withdrawn) return;
  const at = state.now();
  const live = await state.presence.liveReplicas(at);
  const left = await state.presence.detach(channel.openid, channel.channelId, state.replicaId, live, at);
  if (left === 0) await reportOffline(state, channel, channel.endReason ?? 'detached', channel.channelId);
}

/** A new channel on this replica for a session. */
function openChannel(state: ReplicaState, session: SessionView, abort: (reason: Error) => void): LiveChannel {
  const owner = {
    channelId: randomBytes(16).toString('base64url'),
    openid: session.openid,
    sessionId: session.sessionId,
    appid: session.record.appid,
    unionid: session.record.unionid,
  };
  return new LiveChannel(owner, state.channelBuffer, abort);
}

/**
 * Runs one Attach: registers the channel (UserOnline when it is the user's first), yields
 * its items, and on any end unregisters it (UserOffline when it was the last).
 */
export async function* attachChannel(
  state: ReplicaState,
  session: SessionView,
  signal: AbortSignal,
  abort: (reason: Error) => void,
) {
  if (state.withdrawing) throw replicaShuttingDownError();
  const channel = openChannel(state, session, abort);
  state.hub.add(channel);
  try {
    await registerChannel(state, channel);
    yield {
      item: {
        case: 'attached' as const,
        value: { channelId: channel.channelId, replicaId: state.replicaId },
      },
    };
    yield* channel.items(signal, state.keepaliveMs, state.now);
  } finally {
    state.hub.remove(channel);
    await unregisterChannel(state, channel).catch((err: unknown) =>
      state.logger.warn({ err, channel: channel.channelId }, 'could not unregister a closed channel'),
    );
  }
}
