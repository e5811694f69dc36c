import assert from 'node:assert/strict';
import { test } from 'node:test';
import { anomalyKey } from '../domain/anomaly-key.js';
import { eventIds } from '../domain/events.js';
import type { OrderRecord, RefundResource } from '../domain/order.js';
import { fakeDeps, fakeProducer, fakeStore, NOW, storedOrder } from '../../test/fakes.js';
import { applyRefund } from './apply-refund.js';

const paidOrder = (outTradeNo: string, change: Partial<OrderRecord> = {}) =>
  storedOrder(outTradeNo, { state: 'PAID', transactionId: `42-${outTradeNo}`, paidAt: NOW, ...change });
const refundOf = (order: OrderRecord, change: Partial<RefundResource> = {}): RefundResource => ({
  mchid: order.mchid,
  out_trade_no: order.outTradeNo,
  transaction_id: `42-${order.outTradeNo}`,
  out_refund_no: `RN-${order.outTradeNo}`,
  refund_id: `503-${order.outTradeNo}`,
  refund_status: 'SUCCESS',
  success_time: '2024-01-02T10:00:00+08:00',
  amount: { total: order.amount, refund: 40 },
  ...change,
});

test('a refund that did not succeed is ignored without reading the order', async () => {
  const order = paidOrder('R1');
  const { store, calls } = fakeStore([order]);
  assert.equal(
    await applyRefund(fakeDeps({ store }), refundOf(order, { refund_status: 'ABNORMAL' })),
    'ignored',
  );
  assert.deepEqual(calls, []);
});

test('a matching refund is applied, evented and settled; its redelivery is a duplicate', async () => {
  const order = paidOrder('R2');
  const { store, calls, order: current } = fakeStore([order]);
  const producer = fakeProducer();
  const deps = fakeDeps({ store, producer });
  const refund = refundOf(order);
  assert.equal(await applyRefund(deps, refund), 'applied');
  const eventId = eventIds.refund('R2', '503-R2');
  assert.deepEqual(calls, [
    'get R2',
    'schedule R2',
    'refund R2 503-R2',
    `settle R2 ${eventId}`,
    'unschedule R2',
  ]);
  const refunded = current('R2')!;
  assert.equal(refunded.state, 'REFUNDED');
  assert.equal(refunded.refundedTotal, 40);
  assert.deepEqual(refunded.refunds['503-R2'], {
    outRefundNo: 'RN-R2',
    amount: 40,
    succeededAt: Date.parse('2024-01-02T10:00:00+08:00'),
  });
  assert.deepEqual(
    producer.emitted.map((e) => e.eventId),
    [eventId],
  );
  // Redelivered after further refunds used up the rest: still recognised as this refund, not an over-refund.
  await applyRefund(deps, refundOf(order, { refund_id: '503-other', amount: { total: 100, refund: 60 } }));
  assert.equal(await applyRefund(deps, refund), 'duplicate');
});

test('a refund of more than is left, or of an unpaid order, is an anomaly', async () => {
  const order = paidOrder('R3', { refundedTotal: 80 });
  const unpaid = storedOrder('R4');
  const { store, anomalies, order: current } = fakeStore([order, unpaid]);
  assert.equal(await applyRefund(fakeDeps({ store }), refundOf(order)), 'anomaly');
  assert.deepEqual(
    (anomalies.get(`R3 ${anomalyKey('refund:503-R3', refundOf(order))}`) as { fields: string[] }).fields,
    ['refund_amount'],
  );
  assert.equal(current('R3')!.refundedTotal, 80);
  assert.equal(await applyRefund(fakeDeps({ store }), refundOf(unpaid)), 'anomaly');
  assert.deepEqual(
    (anomalies.get(`R4 ${anomalyKey('refund:503-R4', refundOf(unpaid))}`) as { fields: string[] }).fields,
    ['state'],
  );
});

test('a refund naming another transaction is an anomaly about the order payer', async () => {
  const order = paidOrder('R5');
  const { store, anomalies } = fakeStore([order]);
  const producer = fakeProducer();
  const refund = refundOf(order, { transaction_id: '42-x' });
  assert.equal(await applyRefund(fakeDeps({ store, producer }), refund), 'anomaly');
  assert.deepEqual(
    (anomalies.get(`R5 ${anomalyKey('refund:503-R5', refund)}`) as { fields: string[] }).fields,
    ['transaction_id'],
  );
  assert.equal(producer.emitted[0]?.wechat?.openid, order.openid);
  assert.equal(producer.emitted[0]?.wechat?.appid, order.appid);
});

test('a refund for an unknown order is recorded without an event (no payer to tell)', async () => {
  const { store, calls } = fakeStore();
  const producer = fakeProducer();
  const refund = refundOf(paidOrder('R6'));
  assert.equal(await applyRefund(fakeDeps({ store, producer }), refund), 'anomaly');
  assert.deepEqual(calls, ['get R6', `recordAnomaly R6 ${anomalyKey('refund:503-R6', refund)}`]);
  assert.deepEqual(producer.emitted, []);
});
