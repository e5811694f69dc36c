import { registerChannel } from './attach-channel.js';
import { reportOffline, type ReplicaState } from './replica-state.js';

/** Removes a dead replica's channels of every user it held; reports those left with none offline. */
async function reapReplica(
  state: ReplicaState,
  dead: { replicaId: string; lastHeartbeat: number },
  at: number,
) {
  const { presence } = state;
  state.logger.warn({ replica: dead.replicaId, lastHeartbeat: dead.lastHeartbeat }, 'reaping a dead replica');
  const live = await presence.liveReplicas(at);
  for (const openid of await presence.replicaUsers(dead.replicaId)) {
    const { removed, left } = await presence.removeReplica(openid, dead.replicaId, dead.lastHeartbeat, live);
    if (removed > 0 && left === 0) {
      await reportOffline(state, { openid, appid: '' }, 'replica_lost', undefined, dead.replicaId);
    }
  }
  await presence.dropReplica(dead.replicaId);
}

/** Reaps replicas whose heartbeat lapsed (each by exactly one of the replicas racing to). */
export async function reapDeadReplicas(state: ReplicaState): Promise<void> {
  const at = state.now();
  for (const dead of await state.presence.deadReplicas(at)) {
    if (await state.presence.claimDead(dead.replicaId)) await reapReplica(state, dead, at);
  }
}

/**
 * One heartbeat: records it, and when others reaped this replica (it stalled past the TTL) while
 * its channels stayed open, puts them back, or its users would read as offline while attached.
 * Then reaps the replicas that died.
 */
export async function heartbeatOnce(state: ReplicaState): Promise<void> {
  if (state.withdrawing) return;
  const known = await state.presence.heartbeat(state.replicaId, state.now());
  if (!known && state.hub.size > 0) {
    state.logger.warn(
      { channels: state.hub.size },
      'this replica was reaped while alive; re-registering its channels',
    );
    for (const channel of state.hub.channels()) await registerChannel(state, channel);
  }
  await reapDeadReplicas(state);
}

/** Schedules the next heartbeat; each one schedules the next until the replica withdraws. */
function scheduleHeartbeat(state: ReplicaState): void {
  state.timer = setTimeout(() => {
    heartbeatOnce(state)
      .catch((err: unknown) => state.logger.warn({ err }, 'presence heartbeat failed'))
      .finally(() => {
        if (!state.withdrawing) scheduleHeartbeat(state);
      });
  }, state.heartbeatIntervalMs);
  state.timer.unref();
}

/** Starts heartbeating (the first beat before resolving, so the replica is live when serving). */
export async function startHeartbeat(state: ReplicaState): Promise<void> {
  await state.presence.heartbeat(state.replicaId, state.now());
  scheduleHeartbeat(state);
}
