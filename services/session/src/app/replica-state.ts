import type { Logger } from '@wxmesh/rpc';
import type { EventSink } from '../adapters/event-sink.js';
import type { LiveHub } from '../adapters/live-hub.js';
import type { PresenceStore } from '../adapters/presence-store.js';
import type { Relay } from '../adapters/relay.js';
import { channelOverflowError } from '../domain/channel-errors.js';
import { userOffline, type OfflineReason } from '../domain/events.js';

/** What this replica's presence and live-delivery use cases work with; built once by main.ts. */
export interface ReplicaOptions {
  readonly replicaId: string;
  readonly presence: PresenceStore;
  readonly relay: Relay;
  readonly events: EventSink;
  readonly hub: LiveHub;
  readonly now: () => number;
  readonly logger: Logger;
  readonly heartbeatIntervalMs: number;
  readonly channelBuffer: number;
  readonly keepaliveMs: number;
  readonly deliverTimeoutMs: number;
}

/** The replica's explicit state: its options plus what changes over its life. */
export interface ReplicaState extends ReplicaOptions {
  /** The error a channel whose buffer overflows is closed with. */
  readonly overflow: Error;
  /** The pending heartbeat, while heartbeating. */
  timer: NodeJS.Timeout | undefined;
  /** Set by the first step of shutdown: no new channels, no more heartbeats. */
  withdrawing: boolean;
}

/** The state of a replica that has not started heartbeating. */
export function newReplicaState(options: ReplicaOptions): ReplicaState {
  return {
    ...options,
    overflow: channelOverflowError(options.channelBuffer),
    timer: undefined,
    withdrawing: false,
  };
}

/**
 * Reports a user offline: `channelId` is the channel whose close left them so, undefined when a
 * whole replica (`holder`, by default this one) went. Best-effort, like all presence events.
 */
export async function reportOffline(
  state: ReplicaState,
  user: { openid: string; appid: string },
  reason: OfflineReason,
  channelId: string | undefined,
  holder = state.replicaId,
): Promise<void> {
  await state.events.emit(userOffline(user, holder, reason, channelId, state.now()));
}
