import { Code, ConnectError } from '@connectrpc/connect';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import {
  DeliveryChannel as ProtoChannel,
  DeliveryPriority as ProtoPriority,
  DeliveryState as ProtoState,
  MessageRouterService,
  MiniprogramState,
  RoutePolicy as ProtoPolicy,
  type SubscribeMessageContent,
} from '@wxmesh/contracts';
import { defineService } from '@wxmesh/rpc';
import type { RecipientOutcome, RouteRequest } from './app/route-message.js';
import type {
  Delivery,
  DeliveryChannel,
  DeliveryError,
  DeliveryPriority,
  DeliveryState,
  SubscribeContent,
} from './domain/delivery.js';
import type { RoutePolicy } from './domain/route-plan.js';

const STATE: Record<DeliveryState, ProtoState> = {
  QUEUED: ProtoState.QUEUED,
  SENDING: ProtoState.SENDING,
  RETRY_SCHEDULED: ProtoState.RETRY_SCHEDULED,
  DELIVERED: ProtoState.DELIVERED,
  FAILED: ProtoState.FAILED,
  DEAD_LETTERED: ProtoState.DEAD_LETTERED,
};
const CHANNEL: Record<DeliveryChannel, ProtoChannel> = {
  IN_APP: ProtoChannel.IN_APP,
  SUBSCRIBE: ProtoChannel.SUBSCRIBE_MESSAGE,
};
const POLICY: Record<ProtoPolicy, RoutePolicy> = {
  [ProtoPolicy.UNSPECIFIED]: 'IN_APP_THEN_SUBSCRIBE',
  [ProtoPolicy.IN_APP_THEN_SUBSCRIBE]: 'IN_APP_THEN_SUBSCRIBE',
  [ProtoPolicy.IN_APP_ONLY]: 'IN_APP_ONLY',
  [ProtoPolicy.SUBSCRIBE_ONLY]: 'SUBSCRIBE_ONLY',
};
const PRIORITY: Record<ProtoPriority, DeliveryPriority> = {
  [ProtoPriority.UNSPECIFIED]: 'NORMAL',
  [ProtoPriority.LOW]: 'LOW',
  [ProtoPriority.NORMAL]: 'NORMAL',
  [ProtoPriority.HIGH]: 'HIGH',
};
const MINIPROGRAM_STATE: Record<MiniprogramState, SubscribeContent['miniprogramState']> = {
  [MiniprogramState.UNSPECIFIED]: 'formal',
  [MiniprogramState.FORMAL]: 'formal',
  [MiniprogramState.TRIAL]: 'trial',
  [MiniprogramState.DEVELOPER]: 'developer',
};

function subscribeContent(content: SubscribeMessageContent | undefined): SubscribeContent | undefined {
  return (
    content && {
      templateId: content.templateId,
      page: content.page,
      data: { ...content.data },
      miniprogramState: MINIPROGRAM_STATE[content.miniprogramState],
      lang: content.lang,
    }
  );
}

const toResult = (r: RecipientOutcome) => ({
  openid: r.openid,
  deliveryId: r.deliveryId,
  channel: CHANNEL[r.channel],
  state: STATE[r.state],
});

const toError = (e: DeliveryError | undefined) =>
  e && { wechatErrcode: e.errcode, message: e.message, retryable: e.retryable };

function toDelivery(d: Delivery) {
  const ms = (at: number | undefined) => (at === undefined ? undefined : timestampFromMs(at));
  return {
    deliveryId: d.deliveryId,
    appid: d.appid,
    openid: d.openid,
    messageId: d.messageId,
    channel: CHANNEL[d.channel],
    state: STATE[d.state],
    attempts: d.attempts,
    lastError: toError(d.lastError),
    createdAt: ms(d.createdAt),
    updatedAt: ms(d.updatedAt),
    nextAttemptAt: d.state === 'RETRY_SCHEDULED' ? ms(d.nextAttemptAt) : undefined,
    deliveredAt: ms(d.deliveredAt),
    templateId: d.subscribe?.templateId ?? '',
    history: d.history.map((step) => ({
      state: STATE[step.state],
      at: timestampFromMs(step.at),
      attempt: step.attempt,
      channel: CHANNEL[step.channel],
      error: toError(step.error),
    })),
  };
}

/**
 * The MessageRouterService handlers: they map messages to the routing use case and the delivery
 * store, nothing more. Requests are already validated (protovalidate) and the caller checked
 * against each RPC's audience (business backends; operators for GetDelivery) by the kit.
 */
export function createMessageRouterService(deps: {
  route: (request: RouteRequest, signal: AbortSignal) => Promise<RecipientOutcome[]>;
  getDelivery: (deliveryId: string) => Promise<Delivery | undefined>;
}) {
  return defineService(MessageRouterService, {
    async routeMessage(request, ctx) {
      const subscribe = subscribeContent(request.subscribe);
      const results = await deps.route(
        {
          appid: request.appid,
          messageId: request.messageId,
          recipients: request.openids.map((openid) => ({ openid, subscribe })),
          policy: POLICY[request.policy],
          inApp: request.inApp && { kind: request.inApp.kind, payload: request.inApp.payload },
          priority: PRIORITY[request.priority],
        },
        ctx.signal,
      );
      return { results: results.map(toResult) };
    },

    async sendSubscribeMessages(request, ctx) {
      const results = await deps.route(
        {
          appid: request.appid,
          messageId: request.messageId,
          recipients: request.messages.map((m) => ({
            openid: m.openid,
            subscribe: subscribeContent(m.content),
          })),
          policy: 'SUBSCRIBE_ONLY',
          priority: PRIORITY[request.priority],
        },
        ctx.signal,
      );
      return { results: results.map(toResult) };
    },

    async getDelivery(request) {
      const delivery = await deps.getDelivery(request.deliveryId);
      if (!delivery)
        throw new ConnectError(
          `delivery ${request.deliveryId} not found (or past its retention)`,
          Code.NotFound,
        );
      return { delivery: toDelivery(delivery) };
    },
  });
}
