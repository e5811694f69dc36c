import { isSettled, isUnpaid, type OrderRecord } from './order.js';

/** The unpaid states WeChat Pay's order query can move an order to. */
export type UnpaidState = 'CLOSED' | 'PAYERROR' | 'USERPAYING';

/** What to do with an unpaid order, given the trade_state WeChat Pay's order query reports. */
export type ReconcileStep =
  /** WeChat Pay took the payment: apply it exactly as a notification would be. */
  | { kind: 'apply' }
  /** WeChat Pay will never take a payment for it: record the final state, stop looking. */
  | { kind: 'finish'; state: 'CLOSED' | 'PAYERROR' }
  /** Still open: look again later (recording USERPAYING when the payer is at it). */
  | { kind: 'wait'; state?: 'USERPAYING' };

/**
 * The reconciliation step for WeChat Pay's `trade_state` (undefined: WeChat Pay does not know the
 * order). A REFUND state means it was paid first, so it is applied as paid.
 */
export function reconcileStep(tradeState: string | undefined): ReconcileStep {
  switch (tradeState) {
    case 'SUCCESS':
    case 'REFUND':
      return { kind: 'apply' };
    case 'CLOSED':
    case 'REVOKED':
      return { kind: 'finish', state: 'CLOSED' };
    case 'PAYERROR':
      return { kind: 'finish', state: 'PAYERROR' };
    case 'USERPAYING':
      return { kind: 'wait', state: 'USERPAYING' };
    default:
      return { kind: 'wait' };
  }
}

/** What the sweeper does with a due order once its owed events are flushed. */
export type SweepStep =
  | { kind: 'reconcile' }
  /** Unpaid but too young to query: come back when it is old enough. */
  | { kind: 'reschedule'; at: number }
  /** Nothing left to do for it. */
  | { kind: 'unschedule' }
  /** Events still owed: leave it due (its lease brings it back). */
  | { kind: 'keep' };

/**
 * The sweeper's decision for `order` at `now`: an unpaid order is queried from WeChat Pay once it
 * is `reconcileAfterMs` old; a settled one leaves the schedule.
 */
export function sweepStep(
  order: Pick<OrderRecord, 'state' | 'createdAt' | 'pendingEvents'>,
  now: number,
  reconcileAfterMs: number,
): SweepStep {
  if (isUnpaid(order)) {
    const reconcileAt = order.createdAt + reconcileAfterMs;
    return reconcileAt > now ? { kind: 'reschedule', at: reconcileAt } : { kind: 'reconcile' };
  }
  return isSettled(order) ? { kind: 'unschedule' } : { kind: 'keep' };
}
