import type { EventProducer } from '@wxmesh/events';
import type { Logger } from '@wxmesh/rpc';
import { registeredCounter } from '@wxmesh/telemetry';
import { register, type Counter } from 'prom-client';
import type { PaymentStore } from '../adapters/payment-store.js';
import type { WechatPayApi } from '../adapters/wechat-pay-api.js';
import type { SingleFlight } from './single-flight.js';

/** What handling a verified notification came to; every outcome here is answered 204. */
export type NotificationOutcome = 'applied' | 'duplicate' | 'anomaly' | 'ignored';

/**
 * What a copy of a notification that joined another copy's running attempt hears: 'applied'
 * belongs to the attempt that changed the state, so a sharer is a 'duplicate' (each state change
 * is counted applied once); other outcomes are its own too.
 */
export function sharedOutcome(outcome: NotificationOutcome): NotificationOutcome {
  return outcome === 'applied' ? 'duplicate' : outcome;
}

/** The store operations the use cases need (adapters/payment-store.ts in production). */
export type OrderStore = Pick<
  PaymentStore,
  | 'get'
  | 'create'
  | 'pay'
  | 'refund'
  | 'settle'
  | 'setUnpaidState'
  | 'recordAnomaly'
  | 'schedule'
  | 'unschedule'
  | 'claimDue'
>;

/** The WeChat Pay calls the use cases make (adapters/wechat-pay-api.ts in production). */
export type PayApi = Pick<WechatPayApi, 'createJsapiOrder' | 'queryByOutTradeNo'>;

/** The alert and audit counters of payment state. */
export interface PaymentMetrics {
  /** Verified notifications that disagreed with the order, by field. */
  anomalies: Counter<'field'>;
  /** Payment state changes applied (paid, refund, closed), each counted once. */
  stateChanges: Counter<'kind'>;
}

/** Everything the payment use cases run against; main.ts builds it once. */
export interface PaymentDeps {
  store: OrderStore;
  api: PayApi;
  producer: Pick<EventProducer, 'emit'>;
  /** The merchant id orders are placed under and notifications must name. */
  mchid: string;
  /** Sent with every order: where WeChat Pay reaches the notify webhook. */
  notifyUrl: string;
  now: () => number;
  logger: Logger;
  /** An order still unpaid this long after creation is queried from WeChat Pay. */
  reconcileAfterMs: number;
  /** How long after a state change owed events are re-emitted if nobody settled them. */
  eventRetryMs: number;
  metrics: PaymentMetrics;
  /** Concurrent deliveries of one notification on this replica share one attempt. */
  inflight: SingleFlight<NotificationOutcome>;
}

/** The payment counters, registered once in prom-client's global registry (served on /metrics). */
export function createPaymentMetrics(): PaymentMetrics {
  return {
    anomalies: registeredCounter(register, {
      name: 'wxmesh_payment_anomalies_total',
      help: 'Verified WeChat Pay notifications that disagreed with the recorded order (alert on any increase), by field.',
      labelNames: ['field'],
    }),
    stateChanges: registeredCounter(register, {
      name: 'wxmesh_payment_state_changes_total',
      help: 'Payment state changes applied (paid, refund, closed), each counted once.',
      labelNames: ['kind'],
    }),
  };
}
