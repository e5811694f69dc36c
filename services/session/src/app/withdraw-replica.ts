import type { LiveChannel } from '../adapters/live-channel.js';
import { reportOffline, type ReplicaState } from './replica-state.js';

/**
 * Marks every channel here as withdrawn and returns one channel per user. Runs before the first
 * await of the shutdown: the server's drain is about to end the streams, and their cleanup must
 * leave the reporting to the withdrawal.
 */
function markWithdrawn(state: ReplicaState): Map<string, LiveChannel> {
  const users = new Map<string, LiveChannel>();
  for (const channel of state.hub.channels()) {
    channel.withdrawn = true;
    users.set(channel.openid, channel);
  }
  return users;
}

/**
 * Shutdown, first step: stop heartbeating and take this replica out of presence at once (its
 * users read as offline everywhere from the first command), then remove its channels and
 * report the users left with none. The streams themselves are ended by the server's drain.
 */
export async function withdrawReplica(state: ReplicaState): Promise<void> {
  const { presence, replicaId } = state;
  state.withdrawing = true;
  clearTimeout(state.timer);
  const users = markWithdrawn(state);
  await presence.withdraw(replicaId);
  const at = state.now();
  const live = (await presence.liveReplicas(at)).filter((id) => id !== replicaId);
  await Promise.all(
    [...users.values()].map(async (channel) => {
      const { removed, left } = await presence.removeReplica(channel.openid, replicaId, at, live);
      if (removed > 0 && left === 0) await reportOffline(state, channel, 'replica_shutdown', undefined);
    }),
  );
  await presence.dropReplica(replicaId);
  state.logger.info({ users: users.size }, 'presence withdrawn');
}
