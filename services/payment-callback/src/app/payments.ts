import type { OrderContent, OrderRecord, RefundResource, TransactionResource } from '../domain/order.js';
import { applyRefund } from './apply-refund.js';
import { applyTransaction, type TransactionSource } from './apply-transaction.js';
import { createOrder } from './create-order.js';
import type { NotificationOutcome, PaymentDeps } from './deps.js';
import { sweepDueOrders } from './sweep.js';

/** The payment use cases bound to their dependencies: what service.ts and the notify webhook call. */
export interface Payments {
  createOrder(content: OrderContent, signal?: AbortSignal): Promise<OrderRecord>;
  get(outTradeNo: string): Promise<OrderRecord | undefined>;
  applyTransaction(tx: TransactionResource, source: TransactionSource): Promise<NotificationOutcome>;
  applyRefund(refund: RefundResource): Promise<NotificationOutcome>;
  sweep(limit?: number): Promise<void>;
}

/** Binds each use case (one file each under app/) to `deps`. */
export function createPayments(deps: PaymentDeps): Payments {
  return {
    createOrder: (content, signal) => createOrder(deps, content, signal),
    get: (outTradeNo) => deps.store.get(outTradeNo),
    applyTransaction: (tx, source) => applyTransaction(deps, tx, source),
    applyRefund: (refund) => applyRefund(deps, refund),
    sweep: (limit) => sweepDueOrders(deps, limit),
  };
}
