// In-process fakes of the adapter interfaces the payment use cases run against, for unit specs of
// orchestration decisions (src/app/*.spec.ts). The store keeps orders in a Map with the statuses
// the real Lua scripts answer (proved against Redis by src/adapters/payment-store.spec.ts).
import type { BehaviourEvent } from '@wxmesh/contracts';
import { createLogger } from '@wxmesh/rpc';
import type { ApplyResult } from '../src/adapters/payment-store.js';
import {
  createPaymentMetrics,
  type NotificationOutcome,
  type OrderStore,
  type PayApi,
  type PaymentDeps,
} from '../src/app/deps.js';
import { createSingleFlight } from '../src/app/single-flight.js';
import {
  newOrder,
  type OrderContent,
  type OrderRecord,
  type TransactionResource,
} from '../src/domain/order.js';

export const MCHID = '1900000109';
export const APPID = 'wx0123456789abcdef';
export const NOW = 1_700_000_000_000;

/** What a CreateJsapiOrder for `outTradeNo` asks for. */
export function orderContent(outTradeNo: string, change: Partial<OrderContent> = {}): OrderContent {
  return {
    appid: APPID,
    openid: 'o_alice',
    outTradeNo,
    amount: 100,
    currency: 'CNY',
    description: 'tea',
    attach: '',
    goodsTag: '',
    payerClientIp: '',
    ...change,
  };
}

/** An order as recorded `ageMs` before {@link NOW}, its OrderCreated already settled. */
export function storedOrder(outTradeNo: string, change: Partial<OrderRecord> = {}, ageMs = 0): OrderRecord {
  const placed = { mchid: MCHID, prepayId: `prepay-${outTradeNo}`, at: NOW - ageMs, createdEventId: 'x' };
  return { ...newOrder(orderContent(outTradeNo), placed), pendingEvents: {}, ...change };
}

/** The state of an order paid (90 of its 100 by the payer) and then refunded 40 once. */
export const PAID_AND_REFUNDED = {
  state: 'REFUNDED',
  transactionId: '4200000000000000000000000001',
  payerTotal: 90,
  paidAt: 2_000,
  refundedTotal: 40,
  refunds: { '503001': { outRefundNo: 'R1', amount: 40, succeededAt: 3_000 } },
  updatedAt: 3_000,
  version: 3,
} satisfies Partial<OrderRecord>;

/** A paid TRANSACTION.SUCCESS resource for `order`. */
export function paidTransaction(
  order: OrderRecord,
  change: Partial<TransactionResource> = {},
): TransactionResource {
  return {
    appid: order.appid,
    mchid: order.mchid,
    out_trade_no: order.outTradeNo,
    transaction_id: `42-${order.outTradeNo}`,
    trade_state: 'SUCCESS',
    success_time: '2024-01-01T10:00:00+08:00',
    payer: { openid: order.openid },
    amount: { total: order.amount, payer_total: order.amount, currency: order.currency },
    ...change,
  };
}

const copy = <T>(value: T): T => (value === undefined ? value : structuredClone(value));

/** An in-memory order store; `calls` lists every operation in order, `due` the sweep schedule. */
export function fakeStore(orders: OrderRecord[] = []) {
  const byNo = new Map(orders.map((order) => [order.outTradeNo, copy(order)]));
  const calls: string[] = [];
  const due = new Map<string, number>();
  const anomalies = new Map<string, unknown>();
  const save = (order: OrderRecord, changes: Partial<OrderRecord>, now: number) => {
    const next = { ...order, ...changes, updatedAt: now, version: order.version + 1 };
    byNo.set(order.outTradeNo, next);
    return copy(next);
  };
  const store: OrderStore = {
    async get(outTradeNo) {
      calls.push(`get ${outTradeNo}`);
      return copy(byNo.get(outTradeNo));
    },
    async create(order) {
      calls.push(`create ${order.outTradeNo}`);
      const existing = byNo.get(order.outTradeNo);
      if (existing) return { created: false, order: copy(existing) };
      byNo.set(order.outTradeNo, copy(order));
      return { created: true, order: copy(order) };
    },
    async pay(outTradeNo, payment, now, eventId): Promise<ApplyResult> {
      calls.push(`pay ${outTradeNo} ${payment.transactionId}`);
      const order = byNo.get(outTradeNo);
      if (!order) return { status: 'unknown', order: undefined };
      if (order.state === 'PAID' || order.state === 'REFUNDED')
        return {
          status: order.transactionId === payment.transactionId ? 'duplicate' : 'conflict',
          order: copy(order),
        };
      const pendingEvents = { ...order.pendingEvents, [eventId]: 'paid' };
      return { status: 'applied', order: save(order, { ...payment, state: 'PAID', pendingEvents }, now) };
    },
    async refund(outTradeNo, refundId, entry, now, eventId): Promise<ApplyResult> {
      calls.push(`refund ${outTradeNo} ${refundId}`);
      const order = byNo.get(outTradeNo);
      if (!order) return { status: 'unknown', order: undefined };
      if (order.refunds[refundId]) return { status: 'duplicate', order: copy(order) };
      if (order.state !== 'PAID' && order.state !== 'REFUNDED')
        return { status: 'conflict', order: copy(order) };
      if (order.refundedTotal + entry.amount > order.amount)
        return { status: 'over-refund', order: copy(order) };
      const changes = {
        state: 'REFUNDED' as const,
        refunds: { ...order.refunds, [refundId]: entry },
        refundedTotal: order.refundedTotal + entry.amount,
        pendingEvents: { ...order.pendingEvents, [eventId]: 'refund' },
      };
      return { status: 'applied', order: save(order, changes, now) };
    },
    async settle(outTradeNo, eventIds) {
      calls.push(`settle ${outTradeNo} ${eventIds.join(',')}`);
      const order = byNo.get(outTradeNo);
      if (!order) return undefined;
      const pendingEvents = Object.fromEntries(
        Object.entries(order.pendingEvents).filter(([id]) => !eventIds.includes(id)),
      );
      byNo.set(outTradeNo, { ...order, pendingEvents });
      return copy(byNo.get(outTradeNo));
    },
    async setUnpaidState(outTradeNo, state, now) {
      calls.push(`setUnpaidState ${outTradeNo} ${state}`);
      const order = byNo.get(outTradeNo);
      if (!order || (order.state !== 'CREATED' && order.state !== 'USERPAYING')) return copy(order);
      return save(order, { state }, now);
    },
    async recordAnomaly(outTradeNo, key, detail) {
      calls.push(`recordAnomaly ${outTradeNo} ${key}`);
      const id = `${outTradeNo} ${key}`;
      if (anomalies.has(id)) return false;
      anomalies.set(id, detail);
      return true;
    },
    async schedule(outTradeNo, at) {
      calls.push(`schedule ${outTradeNo}`);
      due.set(outTradeNo, at);
    },
    async unschedule(outTradeNo) {
      calls.push(`unschedule ${outTradeNo}`);
      due.delete(outTradeNo);
    },
    async claimDue(now, leaseUntil, limit) {
      const claimed = [...due]
        .filter(([, at]) => at <= now)
        .slice(0, limit)
        .map(([outTradeNo]) => outTradeNo);
      for (const outTradeNo of claimed) due.set(outTradeNo, leaseUntil);
      return claimed;
    },
  };
  return { store, calls, due, anomalies, order: (outTradeNo: string) => copy(byNo.get(outTradeNo)) };
}

/** A producer that keeps what it emitted; while `down`, every emit rejects as an unreachable Kafka would. */
export function fakeProducer() {
  const producer = {
    emitted: [] as BehaviourEvent[],
    down: false,
    async emit(...events: BehaviourEvent[]): Promise<void> {
      if (producer.down) throw new Error('KafkaJSNumberOfRetriesExceeded');
      producer.emitted.push(...events);
    },
  };
  return producer;
}

/** WeChat Pay answering as told: `prepayId` for orders, `transactions` for queries (undefined: unknown). */
export function fakePayApi(transactions: Record<string, TransactionResource> = {}) {
  const api = {
    placed: [] as Parameters<PayApi['createJsapiOrder']>[0][],
    queried: [] as string[],
    failure: undefined as Error | undefined,
    async createJsapiOrder(order: Parameters<PayApi['createJsapiOrder']>[0]) {
      if (api.failure) throw api.failure;
      api.placed.push(order);
      return `prepay-${order.out_trade_no}`;
    },
    async queryByOutTradeNo(outTradeNo: string) {
      api.queried.push(outTradeNo);
      return transactions[outTradeNo];
    },
  };
  return api;
}

/** The use cases' dependencies with fakes, a fixed clock at {@link NOW} and a silent logger. */
export function fakeDeps(parts: {
  store: OrderStore;
  producer?: ReturnType<typeof fakeProducer>;
  api?: ReturnType<typeof fakePayApi>;
}): PaymentDeps {
  return {
    store: parts.store,
    producer: parts.producer ?? fakeProducer(),
    api: parts.api ?? fakePayApi(),
    mchid: MCHID,
    notifyUrl: 'https://pay.example.com/notify',
    now: () => NOW,
    logger: createLogger({ name: 'payment-app-test', level: 'silent' }),
    reconcileAfterMs: 60_000,
    eventRetryMs: 10_000,
    metrics: createPaymentMetrics(),
    inflight: createSingleFlight<NotificationOutcome>(),
  };
}
