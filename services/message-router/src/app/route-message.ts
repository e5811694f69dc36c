import { Code, ConnectError } from '@connectrpc/connect';
import { DeliverStatus, PresenceStatus, type SessionService } from '@wxmesh/contracts';
import type { Logger, PeerClient } from '@wxmesh/rpc';
import pLimit from 'p-limit';
import type { DeliveryStore, NewDelivery } from '../adapters/delivery-store.js';
import {
  deliveryIdFor,
  type DeliveryChannel,
  type DeliveryError,
  type DeliveryPriority,
  type DeliveryState,
  type InAppContent,
  type SubscribeContent,
} from '../domain/delivery.js';
import { chooseChannel, fallsBackToSubscribe, type RoutePolicy } from '../domain/route-plan.js';

/** The session calls routing makes. */
export type SessionPeer = PeerClient<typeof SessionService, 'getPresenceBatch' | 'deliver'>;

/** One message for a set of users (RouteMessage), or a batch of subscribe messages (SendSubscribeMessages). */
export interface RouteRequest {
  readonly appid: string;
  readonly messageId: string;
  readonly recipients: ReadonlyArray<{ readonly openid: string; readonly subscribe?: SubscribeContent }>;
  readonly policy: RoutePolicy;
  readonly inApp?: InAppContent;
  readonly priority: DeliveryPriority;
}

/** The delivery created (or found, for a repeat) for one recipient. */
export interface RecipientOutcome {
  readonly openid: string;
  readonly deliveryId: string;
  readonly channel: DeliveryChannel;
  readonly state: DeliveryState;
}

export interface RouteDeps {
  readonly store: DeliveryStore;
  readonly session: SessionPeer;
  readonly now: () => number;
  readonly logger: Logger;
  /** session.Deliver calls in flight at once for one request. */
  readonly deliverConcurrency: number;
  /**
   * An in-app delivery still SENDING this long after its last change was abandoned by a router
   * that died mid-push: a repeat of the message pushes it again (far longer than a push takes).
   */
  readonly inAppStaleMs: number;
}

const OFFLINE: DeliveryError = {
  errcode: 0,
  message: 'the user is offline and the policy allows in-app only',
  retryable: false,
};

/**
 * Routes a message: asks session who is online (one GetPresenceBatch), creates every recipient's
 * delivery in one atomic step (a repeat of the same message id finds the existing deliveries and
 * sends nothing again), pushes the new in-app ones through session.Deliver — which reaches
 * whichever replica holds the user's live channel — and queues a subscribe message for offline
 * users and for in-app deliveries that did not arrive. ResourceExhausted when the queue is full.
 */
export async function routeMessage(
  request: RouteRequest,
  deps: RouteDeps,
  signal?: AbortSignal,
): Promise<RecipientOutcome[]> {
  const online = await onlineUsers(request, deps, signal);
  const planned = request.recipients.map((r) => plan(request, r, online.has(r.openid)));
  const created = await deps.store.create(planned, deps.now());
  if (created.full) {
    throw new ConnectError(
      `the send queue is full (${created.depth} jobs waiting); retry later with the same message_id`,
      Code.ResourceExhausted,
    );
  }
  const now = deps.now();
  const limit = pLimit(deps.deliverConcurrency);
  return Promise.all(
    planned.map((d, i) => {
      const { state, channel, created: isNew, updatedAt } = created.states[i]!;
      // A new in-app delivery is pushed now; so is one a crashed router left mid-push long ago.
      const push =
        channel === 'IN_APP' && state === 'SENDING' && (isNew || now - updatedAt > deps.inAppStaleMs);
      return push
        ? limit(() => deliverInApp(request, d, deps))
        : { openid: d.openid, deliveryId: d.deliveryId, state, channel };
    }),
  );
}

async function onlineUsers(
  request: RouteRequest,
  deps: RouteDeps,
  signal?: AbortSignal,
): Promise<Set<string>> {
  if (request.policy === 'SUBSCRIBE_ONLY') return new Set();
  const { presences } = await deps.session.getPresenceBatch(
    { openids: request.recipients.map((r) => r.openid) },
    { signal },
  );
  return new Set(presences.filter((p) => p.status === PresenceStatus.ONLINE).map((p) => p.openid));
}

function plan(
  request: RouteRequest,
  recipient: RouteRequest['recipients'][number],
  online: boolean,
): NewDelivery {
  const choice = chooseChannel(request.policy, online);
  return {
    deliveryId: deliveryIdFor(request.appid, request.messageId, recipient.openid),
    appid: request.appid,
    openid: recipient.openid,
    messageId: request.messageId,
    channel: choice === 'subscribe' ? 'SUBSCRIBE' : 'IN_APP',
    priority: request.priority,
    state: choice === 'in-app' ? 'SENDING' : choice === 'subscribe' ? 'QUEUED' : 'FAILED',
    subscribe: recipient.subscribe,
    error: choice === 'offline' ? OFFLINE : undefined,
  };
}

/** One in-app push; on OFFLINE / FAILED / an error, the fallback the policy allows. */
async function deliverInApp(
  request: RouteRequest,
  delivery: NewDelivery,
  deps: RouteDeps,
): Promise<RecipientOutcome> {
  const base = { openid: delivery.openid, deliveryId: delivery.deliveryId };
  let error: DeliveryError;
  try {
    const response = await deps.session.deliver(
      {
        openid: delivery.openid,
        deliveryId: delivery.deliveryId,
        kind: request.inApp!.kind,
        payload: request.inApp!.payload,
      },
      { wechat: { openid: delivery.openid, appid: delivery.appid } },
    );
    if (response.status === DeliverStatus.DELIVERED) {
      await deps.store.move(delivery.deliveryId, {
        from: 'SENDING',
        attempts: 1,
        to: 'DELIVERED',
        channel: 'IN_APP',
        at: deps.now(),
      });
      return { ...base, channel: 'IN_APP', state: 'DELIVERED' };
    }
    error = {
      errcode: 0,
      message: `in-app delivery: the user ${response.status === DeliverStatus.OFFLINE ? 'went offline' : 'channel did not confirm'}`,
      retryable: true,
    };
  } catch (err) {
    deps.logger.warn({ err, deliveryId: delivery.deliveryId }, 'in-app delivery failed');
    error = { errcode: 0, message: `in-app delivery failed: ${(err as Error).message}`, retryable: true };
  }
  if (fallsBackToSubscribe(request.policy) && delivery.subscribe) {
    await deps.store.move(delivery.deliveryId, {
      from: 'SENDING',
      attempts: 1,
      to: 'QUEUED',
      channel: 'SUBSCRIBE',
      at: deps.now(),
      error,
      enqueue: request.priority,
      resetAttempts: true,
    });
    return { ...base, channel: 'SUBSCRIBE', state: 'QUEUED' };
  }
  await deps.store.move(delivery.deliveryId, {
    from: 'SENDING',
    attempts: 1,
    to: 'FAILED',
    channel: 'IN_APP',
    at: deps.now(),
    error: { ...error, retryable: false },
  });
  return { ...base, channel: 'IN_APP', state: 'FAILED' };
}
