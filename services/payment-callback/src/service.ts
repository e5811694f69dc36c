import { timestampDate, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { PaymentService, PaymentState } from '@wxmesh/contracts';
import { actingFor, defineService } from '@wxmesh/rpc';
import { requestPaymentFor, type PaySigner } from './app/payment-params.js';
import { loadVisibleOrder } from './app/visible-order.js';
import type { OrderRecord, TradeState } from './domain/order.js';
import type { Payments } from './app/payments.js';

const STATES: Record<TradeState, PaymentState> = {
  CREATED: PaymentState.CREATED,
  USERPAYING: PaymentState.USER_PAYING,
  PAID: PaymentState.PAID,
  REFUNDED: PaymentState.REFUNDED,
  CLOSED: PaymentState.CLOSED,
  PAYERROR: PaymentState.FAILED,
};

function toPayment(order: OrderRecord) {
  return {
    outTradeNo: order.outTradeNo,
    transactionId: order.transactionId ?? '',
    appid: order.appid,
    mchid: order.mchid,
    openid: order.openid,
    state: STATES[order.state],
    amountTotal: order.amount,
    payerTotal: order.payerTotal ?? 0,
    currency: order.currency,
    refundedTotal: order.refundedTotal,
    description: order.description,
    attach: order.attach,
    createdAt: timestampFromMs(order.createdAt),
    paidAt: order.paidAt === undefined ? undefined : timestampFromMs(order.paidAt),
    updatedAt: timestampFromMs(order.updatedAt),
  };
}

/**
 * The PaymentService handlers, bound to the generated descriptor and mounted by the kit on both
 * ports. Request shape is checked by the contract's protovalidate rules, and the caller against the
 * RPC's audience, before a handler runs: CreateJsapiOrder reaches here only from the business
 * backend (it names payer and price), GetPaymentParams only from a signed-in user, GetPayment from
 * either (a user sees only their own orders).
 */
export function createPaymentService(deps: { payments: Payments; signer: PaySigner }) {
  const { payments, signer } = deps;
  return defineService(PaymentService, {
    async createJsapiOrder(request, ctx) {
      const record = await payments.createOrder(
        {
          appid: request.appid,
          openid: actingFor(ctx, request.openid, 'openid'),
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
      return {
        prepayId: record.prepayId,
        requestPayment: requestPaymentFor(record, signer),
        payment: toPayment(record),
      };
    },

    async getPaymentParams(request, ctx) {
      const record = await loadVisibleOrder(payments, ctx.caller, request.outTradeNo);
      return { requestPayment: requestPaymentFor(record, signer), payment: toPayment(record) };
    },

    async getPayment(request, ctx) {
      return { payment: toPayment(await loadVisibleOrder(payments, ctx.caller, request.outTradeNo)) };
    },
  });
}
