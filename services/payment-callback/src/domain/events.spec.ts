import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { PAID_AND_REFUNDED, storedOrder } from '../../test/fakes.js';
import { anomalyEvent, eventFor, eventIds } from './events.js';
import type { OrderRecord } from './order.js';

const order: OrderRecord = storedOrder('T0001', { ...PAID_AND_REFUNDED, createdAt: 1_000 });

test('event ids derive from what happened, so every re-emission carries the same id', () => {
  assert.equal(eventIds.created('T0001'), 'payment:T0001:created');
  assert.equal(eventIds.paid('T0001'), 'payment:T0001:paid');
  assert.equal(eventIds.refund('T0001', '503001'), 'payment:T0001:refund:503001');
});

test('an out_trade_no with characters event ids may not hold is hashed, stably and distinctly', () => {
  const id = eventIds.paid('T|0001*');
  assert.match(id, /^payment:h[\w-]{32}:paid$/);
  assert.equal(eventIds.paid('T|0001*'), id);
  assert.notEqual(eventIds.paid('T|0002*'), id);
});

test('OrderCreated is rebuilt from the order', () => {
  const event = eventFor(order, eventIds.created('T0001'))!;
  assert.equal(event.eventId, 'payment:T0001:created');
  assert.equal(event.aggregateId, 'payment:T0001');
  assert.equal(event.producer, 'payment-callback');
  assert.equal(event.wechat?.openid, 'o_alice');
  assert.equal(event.wechat?.appid, 'wx0123456789abcdef');
  assert.equal(timestampMs(event.occurredAt!), 1_000);
  assert.equal(event.payload.case, 'orderCreated');
  if (event.payload.case !== 'orderCreated') return;
  assert.equal(event.payload.value.outTradeNo, 'T0001');
  assert.equal(event.payload.value.amountTotal, 100);
  assert.equal(event.payload.value.currency, 'CNY');
});

test('PaymentSucceeded carries the transaction, what the payer paid and when', () => {
  const event = eventFor(order, eventIds.paid('T0001'))!;
  assert.equal(event.payload.case, 'paymentSucceeded');
  if (event.payload.case !== 'paymentSucceeded') return;
  const value = event.payload.value;
  assert.equal(value.transactionId, '4200000000000000000000000001');
  assert.equal(value.amountTotal, 100);
  assert.equal(value.payerTotal, 90);
  assert.equal(timestampMs(value.paidAt!), 2_000);
  assert.equal(timestampMs(event.occurredAt!), 2_000);
});

test('PaymentSucceeded without a payer total reports the order amount as paid', () => {
  const { payerTotal: _, ...withoutPayerTotal } = order;
  const event = eventFor(withoutPayerTotal, eventIds.paid('T0001'))!;
  assert.equal(event.payload.case, 'paymentSucceeded');
  if (event.payload.case !== 'paymentSucceeded') return;
  assert.equal(event.payload.value.payerTotal, 100);
});

test('RefundSucceeded is rebuilt from the refund it names', () => {
  const event = eventFor(order, eventIds.refund('T0001', '503001'))!;
  assert.equal(event.payload.case, 'refundSucceeded');
  if (event.payload.case !== 'refundSucceeded') return;
  assert.equal(event.payload.value.refundId, '503001');
  assert.equal(event.payload.value.outRefundNo, 'R1');
  assert.equal(event.payload.value.refundAmount, 40);
  assert.equal(timestampMs(event.payload.value.refundedAt!), 3_000);
  assert.equal(timestampMs(event.occurredAt!), 3_000);
});

test('an id the order cannot explain has no event', () => {
  const { transactionId: _, ...unpaid } = order;
  assert.equal(eventFor(unpaid, eventIds.paid('T0001')), undefined, 'not paid');
  assert.equal(eventFor(order, eventIds.refund('T0001', 'unknown')), undefined);
  assert.equal(eventFor(order, eventIds.paid('T0002')), undefined, 'another order');
  assert.equal(eventFor(order, 'payment:T0001:other'), undefined);
});

test('PaymentAnomalyDetected: id stable per anomaly key, fields listed, appid only when known', () => {
  const input = {
    outTradeNo: 'T0001',
    transactionId: '42001',
    openid: 'o_alice',
    fields: ['amount_total', 'currency'],
    at: 5_000,
    key: 'tx:42001',
  };
  const event = anomalyEvent(input);
  assert.match(event.eventId, /^payment:T0001:anomaly:[\w-]{24}$/);
  assert.equal(anomalyEvent(input).eventId, event.eventId);
  assert.notEqual(anomalyEvent({ ...input, key: 'tx:42002' }).eventId, event.eventId);
  assert.equal(event.aggregateId, 'payment:T0001');
  assert.equal(timestampMs(event.occurredAt!), 5_000);
  assert.equal(event.wechat?.appid, '');
  assert.equal(anomalyEvent({ ...input, appid: 'wx0123456789abcdef' }).wechat?.appid, 'wx0123456789abcdef');
  assert.equal(event.payload.case, 'paymentAnomalyDetected');
  if (event.payload.case !== 'paymentAnomalyDetected') return;
  assert.deepEqual(event.payload.value.mismatchedFields, ['amount_total', 'currency']);
  assert.equal(event.payload.value.transactionId, '42001');
});
