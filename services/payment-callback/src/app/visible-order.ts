import { Code, ConnectError } from '@connectrpc/connect';
import type { Caller } from '@wxmesh/rpc';
import { orderVisibleTo } from '../domain/order-access.js';
import type { OrderRecord } from '../domain/order.js';

/**
 * The order `outTradeNo` as `caller` may see it, or NotFound. An order that exists but belongs to
 * another user (or was placed under another app than the caller's) gets the very same answer as
 * an unknown one, so order numbers cannot be probed for other users' orders.
 */
export async function loadVisibleOrder(
  orders: { get(outTradeNo: string): Promise<OrderRecord | undefined> },
  caller: Caller,
  outTradeNo: string,
): Promise<OrderRecord> {
  const order = await orders.get(outTradeNo);
  if (order === undefined || !orderVisibleTo(caller, order))
    throw new ConnectError(`no order ${outTradeNo}`, Code.NotFound);
  return order;
}
