import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keys } from './keys.js';

/** A message for a user's live channels, as it travels between replicas. */
export interface RelayedMessage {
  readonly deliveryId: string;
  readonly kind: string;
  readonly payload: Uint8Array;
  /** When Deliver accepted it (epoch ms). */
  readonly sentAt: number;
}

type Wire =
  | {
      k: 'deliver';
      id: string;
      from: string;
      openid: string;
      until: number;
      m: Omit<RelayedMessage, 'payload'> & { p: string };
    }
  | { k: 'ack'; id: string; n: number }
  | { k: 'end'; openid: string; sid: string; reason: string };

/** What a replica does with what other replicas send it. */
export interface RelayHandlers {
  /** Write to this replica's channels of `openid`; resolve with how many took it. */
  deliver(openid: string, message: RelayedMessage, until: number): Promise<number>;
  /** Close this replica's channels of a session that ended. */
  sessionEnded(openid: string, sessionId: string, reason: string): void;
}

/**
 * Replica-to-replica messaging over Redis pub/sub, one channel per replica.
 *
 * Why pub/sub rather than Redis Streams: Deliver is a synchronous, at-most-once push to channels
 * that exist now. Pub/sub hands a message only to the replica subscribed at that moment and keeps
 * nothing, which is exactly that contract: a dead replica simply does not acknowledge (Deliver
 * reports FAILED, then OFFLINE once its heartbeat lapses), and nothing is replayed later to a
 * user who re-attached elsewhere, so nothing arrives twice. A stream would add retention,
 * consumer groups and trimming only to throw the backlog away. The price: Deliver's caller gets
 * DELIVERED only from an explicit acknowledgement, sent back the same way once the holding
 * replica's transport has taken the message.
 */
export function createRelay(options: {
  publisher: Redis;
  subscriber: Redis;
  replicaId: string;
  handlers: RelayHandlers;
  onError: (err: unknown) => void;
}) {
  const { publisher, subscriber, replicaId, handlers, onError } = options;
  const inbox = keys.relay(replicaId);
  const waiting = new Map<string, (written: number) => void>();

  const onMessage = (channel: string, raw: string) => {
    if (channel !== inbox) return;
    let message: Wire;
    try {
      message = JSON.parse(raw) as Wire;
    } catch (err) {
      onError(err);
      return;
    }
    if (message.k === 'ack') {
      waiting.get(message.id)?.(message.n);
    } else if (message.k === 'deliver') {
      const { p, ...rest } = message.m;
      handlers
        .deliver(message.openid, { ...rest, payload: Buffer.from(p, 'base64') }, message.until)
        .then((n) =>
          publisher.publish(keys.relay(message.from), JSON.stringify({ k: 'ack', id: message.id, n })),
        )
        .catch(onError);
    } else if (message.k === 'end') {
      handlers.sessionEnded(message.openid, message.sid, message.reason);
    }
  };

  return {
    async start(): Promise<void> {
      subscriber.on('message', onMessage);
      await subscriber.subscribe(inbox);
    },

    /**
     * Asks `target` to write the message to its channels of `openid`; resolves with the number
     * of channels that took it, 0 when the replica is not listening or did not answer by `until`.
     */
    async deliver(target: string, openid: string, message: RelayedMessage, until: number, now: number) {
      const id = randomUUID();
      const answered = new Promise<number>((resolve) => {
        const timer = setTimeout(() => settle(0), Math.max(0, until - now));
        const settle = (n: number) => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(n);
        };
        waiting.set(id, settle);
      });
      const wire: Wire = {
        k: 'deliver',
        id,
        from: replicaId,
        openid,
        until,
        m: {
          deliveryId: message.deliveryId,
          kind: message.kind,
          sentAt: message.sentAt,
          p: Buffer.from(message.payload).toString('base64'),
        },
      };
      const receivers = await publisher.publish(keys.relay(target), JSON.stringify(wire));
      if (receivers === 0) waiting.get(id)?.(0);
      return answered;
    },

    /** Tells `target` to close its channels of an ended session. */
    async sessionEnded(target: string, openid: string, sessionId: string, reason: string): Promise<void> {
      const wire: Wire = { k: 'end', openid, sid: sessionId, reason };
      await publisher.publish(keys.relay(target), JSON.stringify(wire));
    },

    async close(): Promise<void> {
      for (const settle of waiting.values()) settle(0);
      subscriber.off('message', onMessage);
      await subscriber.quit();
    },
  };
}

export type Relay = ReturnType<typeof createRelay>;
