import { Code, ConnectError } from '@connectrpc/connect';
import type { EventProducer } from '@wxmesh/events';
import type { Logger } from '@wxmesh/rpc';
import { registeredCounter } from '@wxmesh/telemetry';
import { register } from 'prom-client';
import { anomalyEvent, eventFor, eventIds } from './domain/events.js';
import {
  fingerprint,
  formatWechatTime,
  isUnpaid,
  parseWechatTime,
  refundMismatches,
  transactionMismatches,
  type OrderContent,
  type OrderRecord,
  type RefundResource,
  type TransactionResource,
} from './domain/order.js';
import type { PaymentStore } from './adapters/payment-store.js';
import { WechatPayApiError, type WechatPayApi } from './adapters/wechat-pay-api.js';

/** Test-only: where the process kills itself (SIGKILL) to prove crash recovery. */
export type CrashPoint = 'after-redis' | 'after-kafka';

/** A notification's effect could not be made durable; WeChat Pay must retry (answer 5xx). */
export class NotDurableError extends Error {
  override readonly name = 'NotDurableError';
}

/** What handling a verified notification came to; every outcome here is answered 204. */
export type NotificationOutcome = 'applied' | 'duplicate' | 'anomaly' | 'ignored';

const anomalies = registeredCounter(register, {
  name: 'wxmesh_payment_anomalies_total',
  help: 'Verified WeChat Pay notifications that disagreed with the recorded order (alert on any increase), by field.',
  labelNames: ['field'],
});
const applied = registeredCounter(register, {
  name: 'wxmesh_payment_state_changes_total',
  help: 'Payment state changes applied (paid, refund, closed), each counted once.',
  labelNames: ['kind'],
});

/**
 * The payment core: orders, the notification effects, and the sweeper's reconciliation. The
 * notify webhook and the reconciler go through the same `applyTransaction`, so a payment WeChat
 * Pay reports only on query is applied exactly as a notification would be.
 */
export function createPayments(deps: {
  store: PaymentStore;
  api: WechatPayApi;
  producer: EventProducer;
  mchid: string;
  notifyUrl: string;
  now: () => number;
  logger: Logger;
  reconcileAfterMs: number;
  /** How long after a state change owed events are re-emitted if nobody settled them. */
  eventRetryMs: number;
  crashPoint?: CrashPoint;
}) {
  const { store, api, producer, mchid, notifyUrl, now, logger, reconcileAfterMs, eventRetryMs } = deps;
  const crash = (point: CrashPoint) => {
    if (deps.crashPoint !== point) return;
    logger.warn({ point }, 'PAYMENT_CRASH_POINT reached: killing the process (test-only)');
    process.kill(process.pid, 'SIGKILL');
  };

  /** Emits what the record owes and settles it; throws NotDurableError when Kafka did not ack. */
  async function flush(record: OrderRecord): Promise<void> {
    const owed = Object.keys(record.pe ?? {});
    if (owed.length === 0) return;
    const events = owed.flatMap((id) => eventFor(record, id) ?? []);
    try {
      await producer.emit(...events);
    } catch (err) {
      throw new NotDurableError(`events not acknowledged by Kafka: ${(err as Error).message}`);
    }
    crash('after-kafka');
    const settled = await store.settle(record.otn, owed);
    if (settled && Object.keys(settled.pe ?? {}).length === 0 && !isUnpaid(settled))
      await store.unschedule(settled.otn);
  }

  // Concurrent deliveries of one notification on this replica share one attempt.
  const inflight = new Map<string, Promise<NotificationOutcome>>();
  const once = (key: string, run: () => Promise<NotificationOutcome>) => {
    const running = inflight.get(key);
    if (running) return running;
    const attempt = run().finally(() => inflight.delete(key));
    inflight.set(key, attempt);
    return attempt;
  };

  async function anomaly(
    otn: string,
    key: string,
    fields: string[],
    ids: { transactionId: string; openid: string; appid?: string },
    detail: unknown,
  ): Promise<NotificationOutcome> {
    if (await store.recordAnomaly(otn, key, { fields, detail, at: now() }))
      for (const field of fields) anomalies.inc({ field });
    logger.error(
      { outTradeNo: otn, fields, transactionId: ids.transactionId },
      'payment anomaly: notification disagrees with the order',
    );
    if (ids.openid) {
      try {
        await producer.emit(anomalyEvent({ outTradeNo: otn, ...ids, fields, at: now(), key }));
      } catch (err) {
        throw new NotDurableError(`anomaly event not acknowledged: ${(err as Error).message}`);
      }
    }
    return 'anomaly';
  }

  async function applyTransaction(
    tx: TransactionResource,
    source: 'notify' | 'reconcile',
  ): Promise<NotificationOutcome> {
    if (tx.trade_state !== 'SUCCESS') return 'ignored';
    return once(`tx:${tx.transaction_id}:${tx.out_trade_no}`, async () => {
      const order = await store.get(tx.out_trade_no);
      const ids = {
        transactionId: tx.transaction_id ?? '',
        openid: tx.payer?.openid ?? order?.openid ?? '',
        appid: tx.appid,
      };
      if (order === undefined)
        return anomaly(tx.out_trade_no, `tx:${tx.transaction_id}`, ['order'], ids, { source, tx });
      const fields = transactionMismatches(order, tx, mchid);
      if (fields.length > 0)
        return anomaly(
          order.otn,
          `tx:${tx.transaction_id}`,
          fields,
          { ...ids, openid: order.openid },
          { source, tx },
        );
      await store.schedule(order.otn, now() + eventRetryMs);
      const result = await store.pay(
        order.otn,
        tx.transaction_id!,
        tx.amount?.payer_total ?? order.amount,
        parseWechatTime(tx.success_time) ?? now(),
        now(),
        eventIds.paid(order.otn),
      );
      if (result.status === 'conflict')
        return anomaly(
          order.otn,
          `tx:${tx.transaction_id}`,
          ['transaction_id'],
          { ...ids, openid: order.openid },
          { source, tx, paidBy: result.record?.tx },
        );
      if (result.status === 'applied') {
        applied.inc({ kind: 'paid' });
        logger.info({ outTradeNo: order.otn, transactionId: tx.transaction_id, source }, 'payment applied');
      }
      crash('after-redis');
      await flush(result.record!);
      return result.status === 'applied' ? 'applied' : 'duplicate';
    });
  }

  async function applyRefund(refund: RefundResource): Promise<NotificationOutcome> {
    if (refund.refund_status !== 'SUCCESS') return 'ignored';
    return once(`refund:${refund.refund_id}`, async () => {
      const order = await store.get(refund.out_trade_no);
      if (order === undefined)
        return anomaly(
          refund.out_trade_no,
          `refund:${refund.refund_id}`,
          ['order'],
          { transactionId: refund.transaction_id, openid: '' },
          { refund },
        );
      const known = order.refunds?.[refund.refund_id] !== undefined;
      const fields = known ? [] : refundMismatches(order, refund, mchid);
      if (fields.length > 0)
        return anomaly(
          order.otn,
          `refund:${refund.refund_id}`,
          fields,
          { transactionId: refund.transaction_id, openid: order.openid, appid: order.appid },
          { refund },
        );
      await store.schedule(order.otn, now() + eventRetryMs);
      const result = await store.refund(
        order.otn,
        refund.refund_id,
        {
          no: refund.out_refund_no,
          amount: refund.amount.refund,
          at: parseWechatTime(refund.success_time) ?? now(),
        },
        now(),
        eventIds.refund(order.otn, refund.refund_id),
      );
      if (result.status === 'conflict' || result.status === 'over-refund')
        return anomaly(
          order.otn,
          `refund:${refund.refund_id}`,
          [result.status === 'conflict' ? 'state' : 'refund_amount'],
          { transactionId: refund.transaction_id, openid: order.openid, appid: order.appid },
          { refund },
        );
      if (result.status === 'applied') applied.inc({ kind: 'refund' });
      crash('after-redis');
      await flush(result.record!);
      return result.status === 'applied' ? 'applied' : 'duplicate';
    });
  }

  async function createOrder(content: OrderContent, signal?: AbortSignal): Promise<OrderRecord> {
    const fp = fingerprint(content);
    const existing = await store.get(content.outTradeNo);
    if (existing !== undefined) return sameOrFail(existing, fp);
    let prepayId: string;
    try {
      prepayId = await api.createJsapiOrder(
        {
          appid: content.appid,
          mchid,
          description: content.description,
          out_trade_no: content.outTradeNo,
          ...(content.timeExpire ? { time_expire: formatWechatTime(content.timeExpire) } : {}),
          ...(content.attach ? { attach: content.attach } : {}),
          notify_url: notifyUrl,
          ...(content.goodsTag ? { goods_tag: content.goodsTag } : {}),
          amount: { total: content.amount, currency: content.currency },
          payer: { openid: content.openid },
          ...(content.payerClientIp ? { scene_info: { payer_client_ip: content.payerClientIp } } : {}),
        },
        signal,
      );
    } catch (err) {
      if (err instanceof WechatPayApiError) {
        const code = err.status === 400 || err.status === 403 ? Code.FailedPrecondition : Code.Unavailable;
        throw new ConnectError(`WeChat Pay refused the order: ${err.code} ${err.message}`, code);
      }
      throw err;
    }
    const at = now();
    // Scheduled before it exists, so a crash between the two cannot leave an order no sweeper sees.
    await store.schedule(content.outTradeNo, at + reconcileAfterMs);
    const { created, record } = await store.create({
      otn: content.outTradeNo,
      appid: content.appid,
      mchid,
      openid: content.openid,
      amount: content.amount,
      currency: content.currency,
      description: content.description,
      attach: content.attach,
      fp,
      prepay: prepayId,
      state: 'CREATED',
      refunded: 0,
      refunds: {},
      created_at: at,
      updated_at: at,
      v: 1,
      pe: { [eventIds.created(content.outTradeNo)]: 'created' },
    });
    if (!created) return sameOrFail(record, fp);
    try {
      await flush(record);
    } catch (err) {
      // The order stands; the sweeper re-emits OrderCreated from the record.
      logger.warn({ err, outTradeNo: record.otn }, 'OrderCreated not acknowledged yet; the sweeper retries');
    }
    return record;
  }

  function sameOrFail(existing: OrderRecord, fp: string): OrderRecord {
    if (existing.fp !== fp)
      throw new ConnectError(
        `out_trade_no ${existing.otn} already names a different order; use a new out_trade_no`,
        Code.AlreadyExists,
      );
    return existing;
  }

  /** One pass of the sweeper: re-emit owed events, reconcile unpaid orders old enough. */
  async function sweep(limit = 100): Promise<void> {
    const at = now();
    const due = await store.claimDue(at, at + Math.max(eventRetryMs, 5_000), limit);
    for (const otn of due) {
      try {
        let record = await store.get(otn);
        if (record === undefined) {
          await store.unschedule(otn);
          continue;
        }
        if (Object.keys(record.pe ?? {}).length > 0) {
          await flush(record);
          record = (await store.get(otn))!;
        }
        if (isUnpaid(record)) {
          if (record.created_at + reconcileAfterMs > at) {
            await store.schedule(otn, record.created_at + reconcileAfterMs);
            continue;
          }
          await reconcile(record);
        } else if (Object.keys(record.pe ?? {}).length === 0) {
          await store.unschedule(otn);
        }
      } catch (err) {
        logger.warn({ err, outTradeNo: otn }, 'sweep of an order failed; it stays due');
      }
    }
  }

  async function reconcile(record: OrderRecord): Promise<void> {
    const tx = await api.queryByOutTradeNo(record.otn);
    const at = now();
    if (tx?.trade_state === 'SUCCESS' || tx?.trade_state === 'REFUND') {
      logger.info({ outTradeNo: record.otn }, 'reconciliation: WeChat Pay reports paid; applying');
      await applyTransaction({ ...tx, trade_state: 'SUCCESS' }, 'reconcile');
      return;
    }
    if (tx?.trade_state === 'CLOSED' || tx?.trade_state === 'PAYERROR' || tx?.trade_state === 'REVOKED') {
      await store.setUnpaidState(record.otn, tx.trade_state === 'PAYERROR' ? 'PAYERROR' : 'CLOSED', at);
      applied.inc({ kind: 'closed' });
      await store.unschedule(record.otn);
      return;
    }
    if (tx?.trade_state === 'USERPAYING') await store.setUnpaidState(record.otn, 'USERPAYING', at);
    await store.schedule(record.otn, at + reconcileAfterMs);
  }

  return {
    createOrder,
    get: (otn: string) => store.get(otn),
    applyTransaction,
    applyRefund,
    sweep,
    /** True while any notification is being applied (for shutdown). */
    busy: () => inflight.size > 0,
    errorIsRetryable: (err: unknown) => err instanceof NotDurableError || !(err instanceof WechatPayApiError),
  };
}

export type Payments = ReturnType<typeof createPayments>;
