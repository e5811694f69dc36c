import { randomUUID } from 'node:crypto';
import type { RedisClient as Redis } from '@wxmesh/redis';
import { keys } from './keys.js';
import {
  decodeRelayEnvelope,
  encodeRelayEnvelope,
  type RelayEnvelope,
  type RelayedMessage,
} from './relay-codec.js';

export type { RelayedMessage } from './relay-codec.js';

/** What a replica does with what other replicas send it. */
export interface RelayHandlers {
  /** Write to this replica's channels of `openid`; resolve with how many took it. */
  deliver(openid: string, message: RelayedMessage, until: number): Promise<number>;
  /** Close this replica's channels of a session that ended. */
  sessionEnded(openid: string, sessionId: string, reason: string): void;
}

/** Options of {@link createRelay}. */
export interface RelayOptions {
  readonly publisher: Redis;
  readonly subscriber: Redis;
  readonly replicaId: string;
  readonly handlers: RelayHandlers;
  readonly onError: (err: unknown) => void;
}

/** The relay's explicit state: its options, its inbox, and the deliveries waiting for an answer. */
interface RelayState extends RelayOptions {
  readonly inbox: string;
  /** Request id → how to settle the waiting delivery with the number of channels written. */
  readonly waiting: Map<string, (written: number) => void>;
}

/** Sends an envelope to a replica's inbox; resolves with the number of subscribers that got it. */
function publish(state: RelayState, target: string, envelope: RelayEnvelope): Promise<number> {
  return state.publisher.publish(keys.relay(target), encodeRelayEnvelope(envelope));
}

/** Runs a relayed delivery on this replica's channels and answers the sender with the count. */
function answerDelivery(state: RelayState, request: Extract<RelayEnvelope, { kind: 'deliver' }>): void {
  state.handlers
    .deliver(request.openid, request.message, request.until)
    .then((written) => publish(state, request.from, { kind: 'ack', requestId: request.requestId, written }))
    .catch(state.onError);
}

/** Handles one pub/sub message addressed to this replica's inbox. */
function receive(state: RelayState, channel: string, raw: string): void {
  if (channel !== state.inbox) return;
  let envelope: RelayEnvelope | undefined;
  try {
    envelope = decodeRelayEnvelope(raw);
  } catch (err) {
    state.onError(err);
    return;
  }
  if (envelope?.kind === 'ack') state.waiting.get(envelope.requestId)?.(envelope.written);
  else if (envelope?.kind === 'deliver') answerDelivery(state, envelope);
  else if (envelope?.kind === 'end')
    state.handlers.sessionEnded(envelope.openid, envelope.sessionId, envelope.reason);
}

/** Waits for the answer to request `id`: the channel count, or 0 once `timeoutMs` passed. */
function awaitAnswer(state: RelayState, id: string, timeoutMs: number): Promise<number> {
  return new Promise<number>((resolve) => {
    const timer = setTimeout(() => settle(0), Math.max(0, timeoutMs));
    const settle = (written: number) => {
      clearTimeout(timer);
      state.waiting.delete(id);
      resolve(written);
    };
    state.waiting.set(id, settle);
  });
}

/**
 * Asks `target` to write the message to its channels of `openid`; resolves with the number of
 * channels that took it, 0 when the replica is not listening or did not answer by `until`.
 */
async function deliverVia(
  state: RelayState,
  target: string,
  openid: string,
  delivery: { message: RelayedMessage; until: number; now: number },
): Promise<number> {
  const requestId = randomUUID();
  const answered = awaitAnswer(state, requestId, delivery.until - delivery.now);
  const { message, until } = delivery;
  const envelope: RelayEnvelope = {
    kind: 'deliver',
    requestId,
    from: state.replicaId,
    openid,
    until,
    message,
  };
  if ((await publish(state, target, envelope)) === 0) state.waiting.get(requestId)?.(0);
  return answered;
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
export function createRelay(options: RelayOptions) {
  const state: RelayState = { ...options, inbox: keys.relay(options.replicaId), waiting: new Map() };
  const onMessage = (channel: string, raw: string) => receive(state, channel, raw);

  return {
    async start(): Promise<void> {
      state.subscriber.on('message', onMessage);
      await state.subscriber.subscribe(state.inbox);
    },

    /**
     * Asks `target` to write the message to its channels of `openid`; resolves with the number
     * of channels that took it, 0 when the replica is not listening or did not answer by `until`.
     */
    deliver: (target: string, openid: string, message: RelayedMessage, until: number, now: number) =>
      deliverVia(state, target, openid, { message, until, now }),

    /** Tells `target` to close its channels of an ended session. */
    async sessionEnded(target: string, openid: string, sessionId: string, reason: string): Promise<void> {
      await publish(state, target, { kind: 'end', openid, sessionId, reason });
    },

    async close(): Promise<void> {
      for (const settle of state.waiting.values()) settle(0);
      state.subscriber.off('message', onMessage);
      await state.subscriber.quit();
    },
  };
}

export type Relay = ReturnType<typeof createRelay>;
