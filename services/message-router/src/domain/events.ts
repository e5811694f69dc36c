import { DeliveryOutcome, MessageChannel, type BehaviourEvent } from '@wxmesh/contracts';
import { behaviourEvent } from '@wxmesh/events';
import type { Delivery } from './delivery.js';

const PRODUCER = 'message-router';

/** The behaviour events a delivery owes: when it was routed, and how it ended. */
export type DeliveryEventKind = 'routed' | 'delivered' | 'failed';

const CHANNEL: Record<Delivery['channel'], MessageChannel> = {
  IN_APP: MessageChannel.IN_APP,
  SUBSCRIBE: MessageChannel.SUBSCRIBE_MESSAGE,
};

/**
 * The event a delivery owes, rebuilt from the stored delivery, with an id derived from the
 * delivery and the kind (and, for outcomes, the attempt), so whichever replica or retry emits it,
 * consumers see one id and drop duplicates. Undefined when the delivery does not (or no longer)
 * match the kind, e.g. a `delivered` owed for a delivery that was replayed since.
 */
export function deliveryEvent(delivery: Delivery, kind: DeliveryEventKind): BehaviourEvent | undefined {
  const base = {
    aggregateId: `delivery:${delivery.deliveryId}`,
    producer: PRODUCER,
    wechat: { openid: delivery.openid, appid: delivery.appid },
  };
  const common = {
    deliveryId: delivery.deliveryId,
    messageId: delivery.messageId,
    channel: CHANNEL[delivery.channel],
    templateId: delivery.channel === 'SUBSCRIBE' ? (delivery.subscribe?.templateId ?? '') : '',
  };
  if (kind === 'routed') {
    return behaviourEvent({
      ...base,
      eventId: `router:${delivery.deliveryId}:routed`,
      occurredAt: delivery.createdAt,
      payload: { case: 'messageRouted', value: { ...common, channel: CHANNEL[firstChannel(delivery)] } },
    });
  }
  if (kind === 'delivered' && delivery.state === 'DELIVERED') {
    return behaviourEvent({
      ...base,
      eventId: `router:${delivery.deliveryId}:delivered`,
      occurredAt: delivery.deliveredAt ?? delivery.updatedAt,
      payload: { case: 'messageDelivered', value: { ...common, attempts: delivery.attempts } },
    });
  }
  if (kind === 'failed' && (delivery.state === 'FAILED' || delivery.state === 'DEAD_LETTERED')) {
    return behaviourEvent({
      ...base,
      eventId: `router:${delivery.deliveryId}:${delivery.state === 'FAILED' ? 'failed' : 'dead'}:${delivery.updatedAt}`,
      occurredAt: delivery.updatedAt,
      payload: {
        case: 'messageFailed',
        value: {
          ...common,
          attempts: delivery.attempts,
          wechatErrcode: delivery.lastError?.errcode ?? 0,
          error: delivery.lastError?.message ?? '',
          outcome: delivery.state === 'FAILED' ? DeliveryOutcome.FAILED : DeliveryOutcome.DEAD_LETTERED,
        },
      },
    });
  }
  return undefined;
}

function firstChannel(delivery: Delivery): Delivery['channel'] {
  return delivery.history[0]?.channel ?? delivery.channel;
}
