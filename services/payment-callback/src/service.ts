import { timestampDate, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { PaymentService, PaymentState } from '@wxmesh/contracts';
import { defineService } from '@wxmesh/rpc';
import { createNonce, jsapiPayParams } from '@wxmesh/wechat-pay';
import type { KeyObject } from 'node:crypto';
import type { OrderRecord, TradeState } from './domain/order.js';
import type { Payments } from './payments.js';

const STATES: Record<TradeState, PaymentState> = {
  CREATED: PaymentState.CREATED,
  USERPAYING: PaymentState.USER_PAYING,
  PAID: PaymentState.PAID,
  REFUNDED: PaymentState.REFUNDED,
  CLOSED: PaymentState.CLOSED,
  PAYERROR: PaymentState.FAILED,
};

function toPayment(r: OrderRecord) {
  return {
    outTradeNo: r.otn,
    transactionId: r.tx ?? '',
    appid: r.appid,
    mchid: r.mchid,
    openid: r.openid,
    state: STATES[r.state],
    amountTotal: r.amount,
    payerTotal: r.payer_total ?? 0,
    currency: r.currency,
    refundedTotal: r.refunded,
    description: r.description,
    attach: r.attach,
    createdAt: timestampFromMs(r.created_at),
    paidAt: r.paid_at === undefined ? undefined : timestampFromMs(r.paid_at),
    updatedAt: timestampFromMs(r.updated_at),
  };
}

/**
 * The PaymentService handlers, bound to the generated descriptor and mounted by the kit on both
 * ports. Request shape is checked by the contract's protovalidate rules before a handler runs.
 */
export function createPaymentService(deps: {
  payments: Payments;
  merchantKey: () => KeyObject;
  now: () => number;
}) {
  const { payments, merchantKey, now } = deps;
  return defineService(PaymentService, {
    async createJsapiOrder(request, ctx) {
      const record = await payments.createOrder(
        {
          appid: request.appid,
          openid: request.openid,
          outTradeNo: request.outTradeNo,
          amount: request.amountTotal,
          currency: request.currency || 'CNY',
          description: request.description,
          attach: request.attach,
          timeExpire: request.timeExpire ? timestampDate(request.timeExpire).getTime() : undefined,
          goodsTag: request.goodsTag,
          payerClientIp: request.payerClientIp,
        },
        ctx.signal,
      );
      if (record.state !== 'CREATED' && record.state !== 'USERPAYING')
        throw new ConnectError(
          `order ${record.otn} is ${record.state.toLowerCase()}; it cannot be paid again`,
          Code.FailedPrecondition,
        );
      const params = jsapiPayParams(merchantKey(), {
        appId: record.appid,
        prepayId: record.prepay,
        timestamp: Math.floor(now() / 1000),
        nonce: createNonce(),
      });
      return {
        prepayId: record.prepay,
        requestPayment: {
          timeStamp: params.timeStamp,
          nonceStr: params.nonceStr,
          package: params.package,
          signType: params.signType,
          paySign: params.paySign,
          appId: params.appId,
        },
        payment: toPayment(record),
      };
    },

    async getPayment(request) {
      const record = await payments.get(request.outTradeNo);
      if (record === undefined) throw new ConnectError(`no order ${request.outTradeNo}`, Code.NotFound);
      return { payment: toPayment(record) };
    },
  });
}
