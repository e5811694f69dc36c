import { createHash } from 'node:crypto';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { BehaviourEvent } from '@wxmesh/contracts';
import { behaviourEvent } from '@wxmesh/events';
import type { OrderRecord } from './order.js';

const PRODUCER = 'payment-callback';

// Event ids are derived from what happened (the order, the transaction, the refund), never random:
// a redelivered notification, a retry after a crash and the reconciler all emit the same id, and
// consumers drop the duplicate. out_trade_no may hold `|` and `*`, which event ids may not.
function orderPart(outTradeNo: string): string {
  return /^[0-9A-Za-z_-]+$/.test(outTradeNo)
    ? outTradeNo
    : `h${createHash('sha256').update(outTradeNo).digest('base64url').slice(0, 32)}`;
}

/** Event ids owed for an order, by kind. */
export const eventIds = {
  created: (outTradeNo: string) => `payment:${orderPart(outTradeNo)}:created`,
  paid: (outTradeNo: string) => `payment:${orderPart(outTradeNo)}:paid`,
  refund: (outTradeNo: string, refundId: string) => `payment:${orderPart(outTradeNo)}:refund:${refundId}`,
};

/**
 * The event an owed id stands for, rebuilt from the stored order: the same bytes whether the
 * webhook, a retry or the sweeper emits it. Undefined for an id the record cannot explain.
 */
export function eventFor(order: OrderRecord, eventId: string): BehaviourEvent | undefined {
  const base = {
    eventId,
    aggregateId: `payment:${order.outTradeNo}`,
    producer: PRODUCER,
    wechat: { openid: order.openid, appid: order.appid },
  };
  if (eventId === eventIds.created(order.outTradeNo)) {
    return behaviourEvent({
      ...base,
      occurredAt: order.createdAt,
      payload: {
        case: 'orderCreated',
        value: { outTradeNo: order.outTradeNo, amountTotal: order.amount, currency: order.currency },
      },
    });
  }
  if (
    eventId === eventIds.paid(order.outTradeNo) &&
    order.transactionId !== undefined &&
    order.paidAt !== undefined
  ) {
    return behaviourEvent({
      ...base,
      occurredAt: order.paidAt,
      payload: {
        case: 'paymentSucceeded',
        value: {
          outTradeNo: order.outTradeNo,
          transactionId: order.transactionId,
          amountTotal: order.amount,
          payerTotal: order.payerTotal ?? order.amount,
          currency: order.currency,
          paidAt: timestampFromMs(order.paidAt),
        },
      },
    });
  }
  for (const [refundId, refund] of Object.entries(order.refunds)) {
    if (eventId !== eventIds.refund(order.outTradeNo, refundId)) continue;
    return behaviourEvent({
      ...base,
      occurredAt: refund.succeededAt,
      payload: {
        case: 'refundSucceeded',
        value: {
          outTradeNo: order.outTradeNo,
          outRefundNo: refund.outRefundNo,
          refundId,
          refundAmount: refund.amount,
          currency: order.currency,
          refundedAt: timestampFromMs(refund.succeededAt),
        },
      },
    });
  }
  return undefined;
}

/** PaymentAnomalyDetected for a verified notification that disagreed with the order (or named none). */
export function anomalyEvent(input: {
  outTradeNo: string;
  transactionId: string;
  openid: string;
  appid?: string;
  fields: string[];
  at: number;
  key: string;
}): BehaviourEvent {
  return behaviourEvent({
    eventId: `payment:${orderPart(input.outTradeNo)}:anomaly:${createHash('sha256').update(input.key).digest('base64url').slice(0, 24)}`,
    aggregateId: `payment:${input.outTradeNo}`,
    occurredAt: input.at,
    producer: PRODUCER,
    wechat: { openid: input.openid, ...(input.appid ? { appid: input.appid } : {}) },
    payload: {
      case: 'paymentAnomalyDetected',
      value: {
        outTradeNo: input.outTradeNo,
        transactionId: input.transactionId,
        mismatchedFields: input.fields,
      },
    },
  });
}
