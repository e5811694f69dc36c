import { createHash } from 'node:crypto';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { createEventConsumer, type ConsumedEvent, type EventsLogger } from '@wxmesh/events';
import type { Kafka } from 'kafkajs';
import { Code, ConnectError } from '@connectrpc/connect';
import type { SubscribeContent } from '../domain/delivery.js';
import type { RouteRequest } from './route-message.js';

/** The subscribe-message template payment notices use, when one is configured. */
export interface PaymentNoticeTemplate {
  readonly templateId: string;
  /** The page the message opens; `{out_trade_no}` is replaced. */
  readonly page: string;
}

/**
 * The "payment received" notice for a PaymentSucceeded event: in-app when the payer is online,
 * otherwise the configured subscribe message (keywords character_string1 = order number,
 * amount2 = amount, time3 = paid time in China time, thing4 = "支付成功"). The message id is
 * derived from the order, so a redelivered or replayed event finds the delivery it already made
 * and nothing is sent twice.
 */
export function paymentNotice(
  event: ConsumedEvent['event'],
  template: PaymentNoticeTemplate | undefined,
): RouteRequest | undefined {
  if (event.payload.case !== 'paymentSucceeded' || !event.wechat?.openid || !event.wechat.appid)
    return undefined;
  const paid = event.payload.value;
  const amount = (paid.payerTotal || paid.amountTotal) / 100;
  const paidAt = paid.paidAt ? timestampMs(paid.paidAt) : timestampMs(event.occurredAt!);
  const subscribe: SubscribeContent | undefined = template && {
    templateId: template.templateId,
    page: template.page.replaceAll('{out_trade_no}', encodeURIComponent(paid.outTradeNo)),
    data: {
      character_string1: paid.outTradeNo.slice(0, 32),
      amount2: `${amount.toFixed(2)}元`,
      time3: chinaTime(paidAt),
      thing4: '支付成功',
    },
    miniprogramState: 'formal',
    lang: 'zh_CN',
  };
  return {
    appid: event.wechat.appid,
    messageId: `payment-paid:${messagePart(paid.outTradeNo)}`,
    recipients: [{ openid: event.wechat.openid, subscribe }],
    policy: subscribe ? 'IN_APP_THEN_SUBSCRIBE' : 'IN_APP_ONLY',
    inApp: {
      kind: 'payment.received',
      payload: new TextEncoder().encode(
        JSON.stringify({
          out_trade_no: paid.outTradeNo,
          amount_total: paid.amountTotal,
          currency: paid.currency,
        }),
      ),
    },
    priority: 'HIGH',
  };
}

/**
 * The router's own consumer group on the behaviour topic, taking PaymentSucceeded only, turning
 * each recent one into a payment notice. Store and peer outages are transient (retried until they pass);
 * only a malformed event is dead-lettered.
 */
export function createPaymentNoticeConsumer(deps: {
  kafka: Kafka;
  groupId: string;
  /** Payments older than this get no notice (a new group reads the topic from its start). */
  maxAgeMs: number;
  now: () => number;
  route: (request: RouteRequest) => Promise<unknown>;
  template: PaymentNoticeTemplate | undefined;
  logger: EventsLogger;
}) {
  return createEventConsumer({
    kafka: deps.kafka,
    groupId: deps.groupId,
    knownTypes: new Set(['wxmesh.behaviour.v1.PaymentSucceeded']),
    // From the start, so no payment between a deployment and its group's first fetch is missed;
    // the age limit keeps a new group from notifying history.
    fromBeginning: true,
    logger: deps.logger,
    async apply(events) {
      for (const { event } of events) {
        if (event.occurredAt && deps.now() - timestampMs(event.occurredAt) > deps.maxAgeMs) continue;
        const notice = paymentNotice(event, deps.template);
        if (notice) await deps.route(notice);
      }
    },
    isTransient: (err) => !(err instanceof ConnectError) || err.code !== Code.InvalidArgument,
  });
}

// Message ids allow [0-9A-Za-z._~:-]; out_trade_no may also hold `|` and `*`.
function messagePart(outTradeNo: string): string {
  return /^[0-9A-Za-z_-]+$/.test(outTradeNo)
    ? outTradeNo
    : `h${createHash('sha256').update(outTradeNo).digest('base64url').slice(0, 32)}`;
}

function chinaTime(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
}
