import { createHash } from 'node:crypto';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { SessionEndReason, UserOfflineReason, type BehaviourEvent } from '@wxmesh/contracts';
import { behaviourEvent } from '@wxmesh/events';
import type { EndReason, SessionRecord } from './session-record.js';

const PRODUCER = 'session';

const END_REASONS: Record<EndReason, SessionEndReason> = {
  logout: SessionEndReason.LOGOUT,
  expiry: SessionEndReason.EXPIRY,
  eviction: SessionEndReason.EVICTION,
  revocation: SessionEndReason.REVOCATION,
};

/** Why a user's last live channel closed. */
export type OfflineReason = 'detached' | 'replica_shutdown' | 'replica_lost' | 'overflow';

const OFFLINE_REASONS: Record<OfflineReason, UserOfflineReason> = {
  detached: UserOfflineReason.DETACHED,
  replica_shutdown: UserOfflineReason.REPLICA_SHUTDOWN,
  replica_lost: UserOfflineReason.REPLICA_LOST,
  overflow: UserOfflineReason.OVERFLOW,
};

function identity(openid: string, appid: string, unionid = '') {
  return { openid, ...(appid ? { appid } : {}), ...(unionid ? { unionid } : {}) };
}

// Event ids are derived from what happened, never random: whoever emits an event again (the
// sweeper after a crash, a retry) emits the same id, and consumers drop the duplicate.

/** SessionStarted for a stored session. */
export function sessionStarted(openid: string, sessionId: string, record: SessionRecord): BehaviourEvent {
  return behaviourEvent({
    eventId: `session:${sessionId}:started`,
    aggregateId: `session:${sessionId}`,
    occurredAt: record.createdAt,
    producer: PRODUCER,
    wechat: identity(openid, record.appid, record.unionid),
    payload: {
      case: 'sessionStarted',
      value: { sessionId, maxExpiresAt: timestampFromMs(record.maxExpiresAt) },
    },
  });
}

/** SessionEnded for an ended session's tombstone. */
export function sessionEnded(openid: string, sessionId: string, record: SessionRecord): BehaviourEvent {
  return behaviourEvent({
    eventId: `session:${sessionId}:ended`,
    aggregateId: `session:${sessionId}`,
    occurredAt: record.endedAt ?? record.expiresAt,
    producer: PRODUCER,
    wechat: identity(openid, record.appid, record.unionid),
    payload: {
      case: 'sessionEnded',
      value: { sessionId, reason: END_REASONS[record.endReason ?? 'expiry'] },
    },
  });
}

/** UserOnline: the channel that brought the user online. */
export function userOnline(
  channel: { openid: string; appid: string; unionid: string; channelId: string; replicaId: string },
  at: number,
): BehaviourEvent {
  return behaviourEvent({
    eventId: `channel:${channel.channelId}:online`,
    aggregateId: `user:${channel.openid}`,
    occurredAt: at,
    producer: PRODUCER,
    wechat: identity(channel.openid, channel.appid, channel.unionid),
    payload: { case: 'userOnline', value: { replicaId: channel.replicaId, channelId: channel.channelId } },
  });
}

/**
 * UserOffline. The id comes from its cause: the channel whose close left the user offline, or,
 * when a whole replica went (`channelId` undefined), the replica and the user, hashed to keep
 * the id within the envelope's 128 characters; one replica's loss is one event per user.
 */
export function userOffline(
  user: { openid: string; appid: string },
  replicaId: string,
  reason: OfflineReason,
  channelId: string | undefined,
  at: number,
): BehaviourEvent {
  const cause =
    channelId !== undefined
      ? `channel:${channelId}`
      : `replica:${createHash('sha256').update(`${replicaId} ${user.openid}`).digest('base64url').slice(0, 32)}`;
  return behaviourEvent({
    eventId: `${cause}:offline`,
    aggregateId: `user:${user.openid}`,
    occurredAt: at,
    producer: PRODUCER,
    wechat: identity(user.openid, user.appid),
    payload: { case: 'userOffline', value: { replicaId, reason: OFFLINE_REASONS[reason] } },
  });
}
