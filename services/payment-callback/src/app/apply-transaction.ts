import { anomalyKey } from '../domain/anomaly-key.js';
import { eventIds } from '../domain/events.js';
import { parseWechatTime, transactionMismatches, type TransactionResource } from '../domain/order.js';
import { sharedOutcome, type NotificationOutcome, type PaymentDeps } from './deps.js';
import { flushOwedEvents } from './owed-events.js';
import { recordAnomaly, type Anomaly } from './record-anomaly.js';

/** Where a paid transaction came from: a notification, or the sweeper's order query. */
export type TransactionSource = 'notify' | 'reconcile';

/**
 * Applies a paid transaction to its order, once per transaction_id: checked against the order
 * (a disagreement is an anomaly, never applied), marked PAID with PaymentSucceeded owed in the
 * same write, then the event emitted and settled. The notify webhook and the reconciler both come
 * here, so a payment WeChat Pay reports only on query is applied exactly as a notification would be.
 * Resolves once the effect is durable; {@link NotDurableError} when Kafka did not acknowledge.
 * Concurrent copies share one attempt: only the attempt's own caller hears 'applied', the copies
 * that joined it 'duplicate', so each state change is counted applied once.
 */
export async function applyTransaction(
  deps: PaymentDeps,
  tx: TransactionResource,
  source: TransactionSource,
): Promise<NotificationOutcome> {
  if (tx.trade_state !== 'SUCCESS') return 'ignored';
  return deps.inflight.run(
    `tx:${tx.transaction_id}:${tx.out_trade_no}`,
    () => applyPaidTransaction(deps, tx, source),
    sharedOutcome,
  );
}

async function applyPaidTransaction(
  deps: PaymentDeps,
  tx: TransactionResource,
  source: TransactionSource,
): Promise<NotificationOutcome> {
  const { store, now } = deps;
  const order = await store.get(tx.out_trade_no);
  const anomaly = (fields: string[], openid: string, detail: unknown) =>
    recordAnomaly(deps, transactionAnomaly(tx, fields, openid, detail));
  if (order === undefined) return anomaly(['order'], tx.payer?.openid ?? '', { source, tx });
  const fields = transactionMismatches(order, tx, deps.mchid);
  if (fields.length > 0) return anomaly(fields, order.openid, { source, tx });
  await store.schedule(order.outTradeNo, now() + deps.eventRetryMs);
  const payment = {
    transactionId: tx.transaction_id!,
    payerTotal: tx.amount?.payer_total ?? order.amount,
    paidAt: parseWechatTime(tx.success_time) ?? now(),
  };
  const result = await store.pay(order.outTradeNo, payment, now(), eventIds.paid(order.outTradeNo));
  if (result.status === 'conflict')
    return anomaly(['transaction_id'], order.openid, { source, tx, paidBy: result.order?.transactionId });
  if (result.status === 'applied') {
    deps.metrics.stateChanges.inc({ kind: 'paid' });
    deps.logger.info(
      { outTradeNo: order.outTradeNo, transactionId: tx.transaction_id, source },
      'payment applied',
    );
  }
  await flushOwedEvents(deps, result.order!);
  return result.status === 'applied' ? 'applied' : 'duplicate';
}

function transactionAnomaly(
  tx: TransactionResource,
  fields: string[],
  openid: string,
  detail: unknown,
): Anomaly {
  return {
    outTradeNo: tx.out_trade_no,
    key: anomalyKey(`tx:${tx.transaction_id}`, tx),
    fields,
    transactionId: tx.transaction_id ?? '',
    openid,
    appid: tx.appid,
    detail,
  };
}
