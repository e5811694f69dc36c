import type { Caller } from '@wxmesh/rpc';
import type { OrderRecord } from './order.js';

/**
 * Whether `caller` may see `order` at all. A mini-program user sees only the orders placed for
 * them: the order's payer is the caller's openid and, when the gateway or the session names the
 * caller's app, the order was placed under that app (an openid means one user only within one
 * appid). A mesh peer sees any order: the kit has already let through only the peers the RPC's
 * proto allows (the business backend). Nobody else sees anything.
 *
 * Handlers answer an order the caller may not see exactly as an unknown one, so a user cannot
 * learn that another user's order number exists.
 */
export function orderVisibleTo(caller: Caller, order: Pick<OrderRecord, 'openid' | 'appid'>): boolean {
  if (caller.kind === 'peer') return true;
  if (caller.kind !== 'user') return false;
  const { openid, appid } = caller.identity;
  return order.openid === openid && (appid === undefined || appid === '' || order.appid === appid);
}
