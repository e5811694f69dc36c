import type { MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import type { RequestPaymentParamsSchema } from '@wxmesh/contracts';
import { createNonce, jsapiPayParams } from '@wxmesh/wechat-pay';
import type { KeyObject } from 'node:crypto';
import { isUnpaid, type OrderRecord } from '../domain/order.js';

/** The signed arguments of `wx.requestPayment`, as the contract carries them. */
export type RequestPayment = MessageInitShape<typeof RequestPaymentParamsSchema>;

/** What signing payment parameters needs: the merchant key (hot-reloaded), a clock and a nonce source. */
export interface PaySigner {
  readonly merchantKey: () => KeyObject;
  /** Epoch milliseconds. */
  readonly now: () => number;
  readonly nonce?: () => string;
}

/**
 * The `wx.requestPayment` arguments of an order, freshly signed with the merchant key (a new
 * timestamp and nonce on every call, over the order's own appid and prepay_id). This is the one
 * place payment parameters are made: CreateJsapiOrder (for the business backend that placed the
 * order) and GetPaymentParams (for the user who pays it) both answer with it.
 *
 * An order that can no longer be paid (paid, refunded, closed, failed) is FailedPrecondition:
 * the payment sheet would only fail.
 */
export function requestPaymentFor(order: OrderRecord, signer: PaySigner): RequestPayment {
  if (!isUnpaid(order))
    throw new ConnectError(
      `order ${order.outTradeNo} is ${order.state.toLowerCase()}; it cannot be paid again`,
      Code.FailedPrecondition,
    );
  const params = jsapiPayParams(signer.merchantKey(), {
    appId: order.appid,
    prepayId: order.prepayId,
    timestamp: Math.floor(signer.now() / 1000),
    nonce: (signer.nonce ?? createNonce)(),
  });
  return {
    timeStamp: params.timeStamp,
    nonceStr: params.nonceStr,
    package: params.package,
    signType: params.signType,
    paySign: params.paySign,
    appId: params.appId,
  };
}
