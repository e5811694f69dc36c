import type { Endpoint, SandboxHandler, SandboxRequest, SandboxResponse } from '../http.js';
import { chooseSigner, payOrder, refundOrder, showOrder, type PayControlDeps } from './control.js';
import type { PayKeys, SignerKind } from './keys.js';
import { createNotifier } from './notifier.js';
import { payError, type OrderBook } from './order.js';
import { createPaySigner } from './signer.js';
import { createJsapiOrder, queryOrder } from './transactions.js';

export { loadPayKeys, type PayKeys, type SignerKind } from './keys.js';
export { WECHAT_RETRY_SCHEDULE_S } from './notifier.js';

/** The endpoints that need the Pay keys; without them each answers 503. */
function keyedEndpoints(deps: PayControlDeps | undefined): Endpoint[] {
  const keyed =
    (run: (d: PayControlDeps, req: SandboxRequest) => SandboxResponse): SandboxHandler =>
    (req) =>
      deps === undefined
        ? payError(503, 'SYSTEM_ERROR', 'the sandbox has no Pay keys (SANDBOX_PAY_*)')
        : run(deps, req);
  return [
    { method: 'POST', path: '/v3/pay/transactions/jsapi', handler: keyed(createJsapiOrder) },
    { method: 'GET', path: '/v3/pay/transactions/out-trade-no/{otn}', handler: keyed(queryOrder) },
    { method: 'POST', path: '/sandbox/pay/orders/{otn}/pay', handler: keyed(payOrder) },
    { method: 'POST', path: '/sandbox/pay/orders/{otn}/refund', handler: keyed(refundOrder) },
  ];
}

/** The Pay side's options, as main.ts reads them from the configuration. */
export interface PayApiOptions {
  readonly now: () => number;
  /** From {@link loadPayKeys}; undefined: every Pay path answers 503. */
  readonly keys: PayKeys | undefined;
  /** Factor on WeChat Pay's notification retry schedule. */
  readonly notifyTimeScale: number;
  /** The key that signs until the control API switches it. */
  readonly signWith: SignerKind;
}

/** The state of a sandbox that has Pay keys: its orders, signer and notifier. */
function createPayState(options: PayApiOptions, keys: PayKeys): PayControlDeps {
  const { now } = options;
  const signer = createPaySigner({ keys, now, signWith: options.signWith });
  const notifier = createNotifier({
    apiV3Key: keys.apiV3Key,
    signer,
    now,
    timeScale: options.notifyTimeScale,
  });
  return { keys, orders: new Map(), signer, notifier, now };
}

/**
 * The WeChat Pay APIv3 side of the sandbox: `POST /v3/pay/transactions/jsapi` and
 * `GET /v3/pay/transactions/out-trade-no/{out_trade_no}` (merchant signature checked, answers
 * signed), and a notifier that signs and AEAD-encrypts TRANSACTION.SUCCESS / REFUND.SUCCESS
 * notifications, delivers them to the order's notify_url and retries on WeChat's schedule,
 * compressed. The control endpoints (`/sandbox/pay/...`, control.ts) pay and refund orders, show
 * them and switch the signing key. `close` stops pending notification retries.
 */
export function createPayApi(options: PayApiOptions): { endpoints: Endpoint[]; close(): Promise<void> } {
  const state = options.keys === undefined ? undefined : createPayState(options, options.keys);
  const orders: OrderBook = state?.orders ?? new Map();
  return {
    endpoints: [
      ...keyedEndpoints(state),
      { method: 'GET', path: '/sandbox/pay/orders/{otn}', handler: (req) => showOrder(orders, req) },
      { method: 'POST', path: '/sandbox/pay/signer', handler: (req) => chooseSigner(state?.signer, req) },
    ],
    close: async () => state?.notifier.close(),
  };
}
