import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  fingerprint,
  formatWechatTime,
  isSettled,
  isUnpaid,
  newOrder,
  owedEventIds,
  parseWechatTime,
  refundMismatches,
  transactionMismatches,
  type OrderContent,
  type OrderRecord,
  type RefundResource,
  type TransactionResource,
} from './order.js';
import { MCHID, orderContent } from '../../test/fakes.js';

const content: OrderContent = orderContent('T0001');
const order: OrderRecord = newOrder(content, {
  mchid: MCHID,
  prepayId: 'wx_prepay_1',
  at: 1_000,
  createdEventId: 'payment:T0001:created',
});
const tx: TransactionResource = {
  appid: content.appid,
  mchid: MCHID,
  out_trade_no: 'T0001',
  transaction_id: '4200000000000000000000000001',
  trade_state: 'SUCCESS',
  amount: { total: 100, payer_total: 100, currency: 'CNY' },
};
const refund: RefundResource = {
  mchid: MCHID,
  out_trade_no: 'T0001',
  transaction_id: '4200000000000000000000000001',
  out_refund_no: 'R1',
  refund_id: '5030000000000000000000000001',
  refund_status: 'SUCCESS',
  amount: { total: 100, refund: 40 },
};
const paid: OrderRecord = { ...order, state: 'PAID', transactionId: tx.transaction_id, pendingEvents: {} };

test('a new order is CREATED, version 1, nothing refunded, its OrderCreated owed, its content fingerprinted', () => {
  assert.equal(order.state, 'CREATED');
  assert.equal(order.version, 1);
  assert.equal(order.refundedTotal, 0);
  assert.deepEqual(order.refunds, {});
  assert.equal(order.createdAt, 1_000);
  assert.equal(order.updatedAt, 1_000);
  assert.equal(order.prepayId, 'wx_prepay_1');
  assert.equal(order.mchid, MCHID);
  assert.deepEqual(order.pendingEvents, { 'payment:T0001:created': 'created' });
  assert.equal(order.contentFingerprint, fingerprint(content));
});

test('the fingerprint changes with every field of the request, and only with them', () => {
  assert.equal(fingerprint({ ...content }), fingerprint(content));
  const changes: Partial<OrderContent>[] = [
    { appid: 'wxfedcba9876543210' },
    { openid: 'o_bob' },
    { outTradeNo: 'T0002' },
    { amount: 101 },
    { currency: 'USD' },
    { description: 'two cups' },
    { attach: 'x' },
    { timeExpire: 5 },
    { goodsTag: 'g' },
    { payerClientIp: '10.0.0.1' },
  ];
  const prints = changes.map((change) => fingerprint({ ...content, ...change }));
  assert.equal(new Set([fingerprint(content), ...prints]).size, changes.length + 1);
  assert.match(fingerprint(content), /^[\w-]{32}$/);
});

test('only CREATED and USERPAYING orders are unpaid', () => {
  assert.equal(isUnpaid({ state: 'CREATED' }), true);
  assert.equal(isUnpaid({ state: 'USERPAYING' }), true);
  for (const state of ['PAID', 'REFUNDED', 'CLOSED', 'PAYERROR'] as const)
    assert.equal(isUnpaid({ state }), false);
});

test('an order is settled once it owes nothing and can no longer be paid', () => {
  assert.deepEqual(owedEventIds(order), ['payment:T0001:created']);
  assert.equal(isSettled(order), false, 'owes OrderCreated');
  assert.equal(isSettled({ ...order, pendingEvents: {} }), false, 'still unpaid');
  assert.equal(isSettled(paid), true);
  assert.equal(isSettled({ ...paid, pendingEvents: { 'payment:T0001:paid': 'paid' } }), false);
});

test('a transaction that matches the order has no mismatches', () => {
  assert.deepEqual(transactionMismatches(order, tx, MCHID), []);
  assert.deepEqual(
    transactionMismatches(order, { ...tx, amount: { total: 100 } }, MCHID),
    [],
    'currency defaults to CNY',
  );
});

test('every disagreeing field of a transaction is named', () => {
  assert.deepEqual(transactionMismatches(order, { ...tx, mchid: '1900000999' }, MCHID), ['mchid']);
  assert.deepEqual(transactionMismatches(order, tx, '1900000999'), ['mchid'], 'not our merchant');
  assert.deepEqual(transactionMismatches(order, { ...tx, appid: 'wxother' }, MCHID), ['appid']);
  assert.deepEqual(transactionMismatches(order, { ...tx, out_trade_no: 'T9' }, MCHID), ['out_trade_no']);
  assert.deepEqual(transactionMismatches(order, { ...tx, amount: { total: 1 } }, MCHID), ['amount_total']);
  assert.deepEqual(transactionMismatches(order, { ...tx, amount: { total: 100, currency: 'USD' } }, MCHID), [
    'currency',
  ]);
  assert.deepEqual(transactionMismatches(order, { ...tx, transaction_id: undefined }, MCHID), [
    'transaction_id',
  ]);
  assert.deepEqual(transactionMismatches(order, { ...tx, appid: 'wxother', amount: undefined }, MCHID), [
    'appid',
    'amount_total',
  ]);
});

test('a refund of the paid transaction within the amount has no mismatches', () => {
  assert.deepEqual(refundMismatches(paid, refund, MCHID), []);
  assert.deepEqual(
    refundMismatches(order, { ...refund, transaction_id: 'any' }, MCHID),
    [],
    'no transaction yet',
  );
});

test('every disagreeing field of a refund is named, over-refunds included', () => {
  assert.deepEqual(refundMismatches(paid, { ...refund, mchid: '1900000999' }, MCHID), ['mchid']);
  assert.deepEqual(refundMismatches(paid, { ...refund, out_trade_no: 'T9' }, MCHID), ['out_trade_no']);
  assert.deepEqual(refundMismatches(paid, { ...refund, transaction_id: '42x' }, MCHID), ['transaction_id']);
  assert.deepEqual(refundMismatches(paid, { ...refund, amount: { total: 99, refund: 40 } }, MCHID), [
    'amount_total',
  ]);
  assert.deepEqual(refundMismatches(paid, { ...refund, amount: { total: 100, refund: 0 } }, MCHID), [
    'refund_amount',
  ]);
  assert.deepEqual(refundMismatches({ ...paid, refundedTotal: 70 }, refund, MCHID), ['refund_amount']);
  assert.deepEqual(refundMismatches({ ...paid, refundedTotal: 60 }, refund, MCHID), [], 'exactly the rest');
});

test('WeChat Pay times: RFC 3339 read to epoch ms, written in China Standard Time', () => {
  assert.equal(parseWechatTime('2018-06-08T10:34:56+08:00'), Date.UTC(2018, 5, 8, 2, 34, 56));
  assert.equal(parseWechatTime(undefined), undefined);
  assert.equal(parseWechatTime(''), undefined);
  assert.equal(parseWechatTime('not a time'), undefined);
  assert.equal(formatWechatTime(Date.UTC(2018, 5, 8, 2, 34, 56, 789)), '2018-06-08T10:34:56+08:00');
  const ms = Date.UTC(2024, 0, 1, 16, 0, 0);
  assert.equal(parseWechatTime(formatWechatTime(ms)), ms);
});
