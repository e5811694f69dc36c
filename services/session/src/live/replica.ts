import { randomBytes } from 'node:crypto';
import { Code, ConnectError } from '@connectrpc/connect';
import type { Logger } from '@wxmesh/rpc';
import type { EventSink } from '../adapters/event-sink.js';
import type { PresenceStore, UserPresence } from '../adapters/presence-store.js';
import type { Relay, RelayedMessage } from '../adapters/relay.js';
import { userOffline, userOnline, type OfflineReason } from '../domain/events.js';
import type { EndReason } from '../domain/session-record.js';
import type { SessionView } from '../session-manager.js';
import { LiveChannel, LiveHub } from './hub.js';

const END_MESSAGES: Record<EndReason, string> = {
  logout: 'the session was logged out',
  expiry: 'the session expired',
  eviction: 'the session was replaced by a newer login',
  revocation: 'the session was revoked',
};

/** Options of {@link createReplica}. */
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

/**
 * This replica's part in presence and live delivery: it opens and closes channels (reporting
 * UserOnline/UserOffline), heartbeats, reaps replicas that died, delivers to users wherever they
 * are attached, and withdraws everything at once when the process is asked to stop.
 */
export function createReplica(options: ReplicaOptions) {
  const { replicaId, presence, events, hub, now, logger } = options;
  const overflow = new ConnectError(
    `live channel buffer full (${options.channelBuffer} messages): the client is not reading; reconnect`,
    Code.ResourceExhausted,
  );
  let timer: NodeJS.Timeout | undefined;
  let withdrawing = false;

  async function reportOffline(
    channel: { openid: string; appid: string },
    reason: OfflineReason,
    channelId: string | undefined,
    holder = replicaId,
  ) {
    await events.emit(userOffline(channel, holder, reason, channelId, now()));
  }

  async function register(channel: LiveChannel): Promise<void> {
    const at = now();
    const live = await presence.liveReplicas(at);
    if (!live.includes(replicaId)) live.push(replicaId);
    const before = await presence.attach(
      channel.openid,
      channel.channelId,
      { r: replicaId, s: channel.sessionId, a: channel.appid, t: at },
      live,
      at,
    );
    if (before === 0) await events.emit(userOnline({ ...channel, replicaId }, at));
  }

  async function unregister(channel: LiveChannel): Promise<void> {
    if (channel.withdrawn) return;
    const at = now();
    const live = await presence.liveReplicas(at);
    const left = await presence.detach(channel.openid, channel.channelId, replicaId, live, at);
    if (left === 0) await reportOffline(channel, channel.endReason ?? 'detached', channel.channelId);
  }

  /** Reaps replicas whose heartbeat lapsed: their users' channels go, the users are reported offline. */
  async function reap(): Promise<void> {
    const at = now();
    for (const dead of await presence.deadReplicas(at)) {
      if (!(await presence.claimDead(dead.replicaId))) continue;
      logger.warn({ replica: dead.replicaId, lastHeartbeat: dead.lastHeartbeat }, 'reaping a dead replica');
      const live = await presence.liveReplicas(at);
      for (const openid of await presence.replicaUsers(dead.replicaId)) {
        const { removed, left } = await presence.removeReplica(
          openid,
          dead.replicaId,
          dead.lastHeartbeat,
          live,
        );
        if (removed > 0 && left === 0) {
          await reportOffline({ openid, appid: '' }, 'replica_lost', undefined, dead.replicaId);
        }
      }
      await presence.dropReplica(dead.replicaId);
    }
  }

  async function tick(): Promise<void> {
    if (withdrawing) return;
    const known = await presence.heartbeat(replicaId, now());
    if (!known && hub.size > 0) {
      // Others reaped this replica (it stalled past the TTL) while its channels stayed open:
      // put them back, or its users would read as offline while attached.
      logger.warn({ channels: hub.size }, 'this replica was reaped while alive; re-registering its channels');
      for (const channel of hub.channels()) await register(channel);
    }
    await reap();
  }

  return {
    replicaId,

    /** Starts heartbeating (the first beat before resolving, so the replica is live when serving). */
    async start(): Promise<void> {
      await presence.heartbeat(replicaId, now());
      const loop = () => {
        timer = setTimeout(() => {
          tick()
            .catch((err: unknown) => logger.warn({ err }, 'presence heartbeat failed'))
            .finally(() => {
              if (!withdrawing) loop();
            });
        }, options.heartbeatIntervalMs);
        timer.unref();
      };
      loop();
    },

    /**
     * Runs one Attach: registers the channel (UserOnline when it is the user's first), yields
     * its items, and on any end unregisters it (UserOffline when it was the last).
     */
    async *attach(session: SessionView, signal: AbortSignal, abort: (reason: Error) => void) {
      if (withdrawing) {
        throw new ConnectError('server is shutting down; reconnect to another replica', Code.Unavailable);
      }
      const channel = new LiveChannel(
        {
          channelId: randomBytes(16).toString('base64url'),
          openid: session.openid,
          sessionId: session.sessionId,
          appid: session.record.a,
          unionid: session.record.u,
        },
        options.channelBuffer,
        abort,
      );
      hub.add(channel);
      try {
        await register(channel);
        yield { item: { case: 'attached' as const, value: { channelId: channel.channelId, replicaId } } };
        yield* channel.items(signal, options.keepaliveMs, now);
      } finally {
        hub.remove(channel);
        await unregister(channel).catch((err: unknown) =>
          logger.warn({ err, channel: channel.channelId }, 'could not unregister a closed channel'),
        );
      }
    },

    /** Presence of users, in order. */
    read(openids: readonly string[]): Promise<UserPresence[]> {
      return presence.read(openids, now());
    },

    /**
     * Delivers to every live channel of a user, here and on other replicas; resolves with the
     * number of channels that took it and whether the user had any.
     */
    async deliver(openid: string, message: RelayedMessage, deadline: number | undefined) {
      const at = now();
      const until = Math.min(at + options.deliverTimeoutMs, deadline ?? Number.POSITIVE_INFINITY);
      const [user] = await presence.read([openid], at);
      if (user!.channelCount === 0) return { online: false, written: 0 };
      const counts = await Promise.all(
        [...user!.replicas.keys()].map((target) =>
          target === replicaId
            ? hub.deliver(openid, message, until, overflow)
            : options.relay.deliver(target, openid, message, until, at),
        ),
      );
      return { online: true, written: counts.reduce((a, b) => a + b, 0) };
    },

    /** Closes a session's channels wherever they are, with Unauthenticated. */
    async endSessionChannels(openid: string, sessionId: string, reason: EndReason): Promise<void> {
      const [user] = await presence.read([openid], now());
      await Promise.all(
        [...user!.replicas.keys()].map((target) =>
          target === replicaId
            ? hub.endSession(openid, sessionId, sessionEndError(reason))
            : options.relay.sessionEnded(target, openid, sessionId, reason),
        ),
      );
    },

    /** Handles a relayed delivery for this replica's channels. */
    deliverHere(openid: string, message: RelayedMessage, until: number): Promise<number> {
      return hub.deliver(openid, message, until, overflow);
    },

    /** Handles a relayed session end for this replica's channels. */
    endSessionHere(openid: string, sessionId: string, reason: string): void {
      hub.endSession(openid, sessionId, sessionEndError(reason as EndReason));
    },

    /**
     * Shutdown, first step: stop heartbeating and take this replica out of presence at once (its
     * users read as offline everywhere from the first command), then remove its channels and
     * report the users left with none. The streams themselves are ended by the server's drain.
     */
    async withdraw(): Promise<void> {
      withdrawing = true;
      clearTimeout(timer);
      // Before the first await: the server's drain is about to end the streams, and their
      // cleanup must leave the reporting to this step.
      const users = new Map<string, LiveChannel>();
      for (const channel of hub.channels()) {
        channel.withdrawn = true;
        users.set(channel.openid, channel);
      }
      await presence.withdraw(replicaId);
      const at = now();
      const live = (await presence.liveReplicas(at)).filter((id) => id !== replicaId);
      await Promise.all(
        [...users.values()].map(async (channel) => {
          const { removed, left } = await presence.removeReplica(channel.openid, replicaId, at, live);
          if (removed > 0 && left === 0) await reportOffline(channel, 'replica_shutdown', undefined);
        }),
      );
      await presence.dropReplica(replicaId);
      logger.info({ users: users.size }, 'presence withdrawn');
    },
  };
}

function sessionEndError(reason: EndReason): ConnectError {
  return new ConnectError(
    `${END_MESSAGES[reason] ?? 'the session ended'}; log in again`,
    Code.Unauthenticated,
  );
}

export type Replica = ReturnType<typeof createReplica>;
