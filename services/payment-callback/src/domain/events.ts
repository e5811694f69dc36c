import { createHash } from 'node:crypto';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { BehaviourEvent } from '@wxmesh/contracts';
import { behaviourEvent } from '@wxmesh/events';
import type { OrderRecord } from './order.js';

const PRODUCER = 'payment-callback';

// Event ids are derived from what happened (the order, the transaction, the refund), never random:
// a redelivered notification, a retry after a crash and the reconciler all emit the same id, and
// consumers drop the duplicate. out_trade_no may hold `|` and `*`, which event ids may not.
function orderPart(otn: string): string {
  return /^[0-9A-Za-z_-]+$/.test(otn)
    ? otn
    : `h${createHash('sha256').update(otn).digest('base64url').slice(0, 32)}`;
}

/** Event ids owed for an order, by kind. */
export const eventIds = {
  created: (otn: string) => `payment:${orderPart(otn)}:created`,
  paid: (otn: string) => `payment:${orderPart(otn)}:paid`,
  refund: (otn: string, refundId: string) => `payment:${orderPart(otn)}:refund:${refundId}`,
};

/**
 * The event an owed id stands for, rebuilt from the stored order: the same bytes whether the
 * webhook, a retry or the sweeper emits it. Undefined for an id the record cannot explain.
 */
export function eventFor(order: OrderRecord, eventId: string): BehaviourEvent | undefined {
  const base = {
    eventId,
    aggregateId: `payment:${order.otn}`,
    producer: PRODUCER,
    wechat: { openid: order.openid, appid: order.appid },
  };
  if (eventId === eventIds.created(order.otn)) {
    return behaviourEvent({
      ...base,
      occurredAt: order.created_at,
      payload: {
        case: 'orderCreated',
        value: { outTradeNo: order.otn, amountTotal: order.amount, currency: order.currency },
      },
    });
  }
  if (eventId === eventIds.paid(order.otn) && order.tx !== undefined && order.paid_at !== undefined) {
    return behaviourEvent({
      ...base,
      occurredAt: order.paid_at,
      payload: {
        case: 'paymentSucceeded',
        value: {
          outTradeNo: order.otn,
          transactionId: order.tx,
          amountTotal: order.amount,
          payerTotal: order.payer_total ?? order.amount,
          currency: order.currency,
          paidAt: timestampFromMs(order.paid_at),
        },
      },
    });
  }
  for (const [refundId, refund] of Object.entries(order.refunds)) {
    if (eventId !== eventIds.refund(order.otn, refundId)) continue;
    return behaviourEvent({
      ...base,
      occurredAt: refund.at,
      payload: {
        case: 'refundSucceeded',
        value: {
          outTradeNo: order.otn,
          outRefundNo: refund.no,
          refundId,
          refundAmount: refund.amount,
          currency: order.currency,
          refundedAt: timestampFromMs(refund.at),
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
