import type { Logger } from '@wxmesh/rpc';
import { owedEventIds, type OrderRecord } from '../domain/order.js';
import { reconcileStep, sweepStep } from '../domain/reconciliation.js';
import { applyTransaction } from './apply-transaction.js';
import type { PaymentDeps } from './deps.js';
import { flushOwedEvents } from './owed-events.js';

/** The sweeper's lease on a claimed order is at least this long, so a slow pass keeps it. */
const MIN_LEASE_MS = 5_000;

/**
 * One pass of the sweeper over up to `limit` due orders (leased, so other replicas skip them):
 * owed events re-emitted, unpaid orders old enough reconciled against WeChat Pay. One order failing
 * is logged and stays due; the others go on.
 */
export async function sweepDueOrders(deps: PaymentDeps, limit = 100): Promise<void> {
  const at = deps.now();
  const due = await deps.store.claimDue(at, at + Math.max(deps.eventRetryMs, MIN_LEASE_MS), limit);
  for (const outTradeNo of due) {
    try {
      await sweepOrder(deps, outTradeNo, at);
    } catch (err) {
      deps.logger.warn({ err, outTradeNo }, 'sweep of an order failed; it stays due');
    }
  }
}

/** Flushes what one due order owes, then reconciles, reschedules or forgets it. */
async function sweepOrder(deps: PaymentDeps, outTradeNo: string, at: number): Promise<void> {
  const { store } = deps;
  let order = await store.get(outTradeNo);
  if (order === undefined) return store.unschedule(outTradeNo);
  if (owedEventIds(order).length > 0) {
    await flushOwedEvents(deps, order);
    order = (await store.get(outTradeNo))!;
  }
  const step = sweepStep(order, at, deps.reconcileAfterMs);
  if (step.kind === 'reconcile') return reconcileOrder(deps, order);
  if (step.kind === 'reschedule') return store.schedule(outTradeNo, step.at);
  if (step.kind === 'unschedule') return store.unschedule(outTradeNo);
}

/**
 * Asks WeChat Pay about an unpaid order: paid there is applied as a notification would be; closed
 * or failed there is recorded and no longer swept; still open is looked at again later.
 */
export async function reconcileOrder(deps: PaymentDeps, order: OrderRecord): Promise<void> {
  const { store, api, now, logger, reconcileAfterMs } = deps;
  const tx = await api.queryByOutTradeNo(order.outTradeNo);
  const at = now();
  const step = reconcileStep(tx?.trade_state);
  if (step.kind === 'apply') {
    logger.info({ outTradeNo: order.outTradeNo }, 'reconciliation: WeChat Pay reports paid; applying');
    await applyTransaction(deps, { ...tx!, trade_state: 'SUCCESS' }, 'reconcile');
    return;
  }
  if (step.kind === 'finish') {
    await store.setUnpaidState(order.outTradeNo, step.state, at);
    deps.metrics.stateChanges.inc({ kind: 'closed' });
    await store.unschedule(order.outTradeNo);
    return;
  }
  if (step.state !== undefined) await store.setUnpaidState(order.outTradeNo, step.state, at);
  await store.schedule(order.outTradeNo, at + reconcileAfterMs);
}

/**
 * Runs `sweep` every `intervalMs` (never two passes at once on this replica) until the returned
 * stop is called; a failed pass is logged and the next one tries again.
 */
export function startSweeper(sweep: () => Promise<void>, intervalMs: number, logger: Logger): () => void {
  let sweeping = false;
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    sweep()
      .catch((err: unknown) => logger.warn({ err }, 'payment sweep failed'))
      .finally(() => (sweeping = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
