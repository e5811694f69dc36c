import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PAID_AND_REFUNDED } from '../../test/fakes.js';
import type { OrderRecord } from '../domain/order.js';
import { decodeOrder, encodeOrder } from './order-codec.js';

const created: OrderRecord = {
  outTradeNo: 'T0001',
  appid: 'wx0123456789abcdef',
  mchid: '1900000109',
  openid: 'o_alice',
  amount: 100,
  currency: 'CNY',
  description: 'tea',
  attach: 'table 4',
  contentFingerprint: 'fp0123',
  prepayId: 'wx_prepay_1',
  state: 'CREATED',
  refundedTotal: 0,
  refunds: {},
  createdAt: 1_000,
  updatedAt: 1_000,
  version: 1,
  pendingEvents: { 'payment:T0001:created': 'created' },
};

// A new order exactly as payment-callback has always written it.
const STORED_CREATED =
  '{"otn":"T0001","appid":"wx0123456789abcdef","mchid":"1900000109","openid":"o_alice","amount":100,' +
  '"currency":"CNY","description":"tea","attach":"table 4","fp":"fp0123","prepay":"wx_prepay_1",' +
  '"state":"CREATED","refunded":0,"refunds":{},"created_at":1000,"updated_at":1000,"v":1,' +
  '"pe":{"payment:T0001:created":"created"}}';

test('a new order encodes to the bytes it has always been stored as', () => {
  assert.equal(encodeOrder(created), STORED_CREATED);
  assert.deepEqual(decodeOrder(STORED_CREATED), created);
});

test('an order as the Lua scripts leave it (paid, refunded) decodes with full names', () => {
  const stored = JSON.stringify({
    ...(JSON.parse(STORED_CREATED) as object),
    v: 3,
    pe: { 'payment:T0001:refund:503001': 'refund' },
    refunds: { '503001': { amount: 40, no: 'R1', at: 3_000 } },
    state: 'REFUNDED',
    tx: '4200000000000000000000000001',
    payer_total: 90,
    paid_at: 2_000,
    refunded: 40,
    updated_at: 3_000,
  });
  const order = decodeOrder(stored)!;
  assert.deepEqual(order, {
    ...created,
    ...PAID_AND_REFUNDED,
    pendingEvents: { 'payment:T0001:refund:503001': 'refund' },
  });
  assert.deepEqual(JSON.parse(encodeOrder(order)), JSON.parse(stored), 'encodes back to the same fields');
});

test('maps Lua emptied to `[]` read as empty maps; nothing stored reads as no order', () => {
  const emptied = STORED_CREATED.replace('"refunds":{}', '"refunds":[]').replace(
    '"pe":{"payment:T0001:created":"created"}',
    '"pe":[]',
  );
  const order = decodeOrder(emptied)!;
  assert.deepEqual(order.refunds, {});
  assert.deepEqual(order.pendingEvents, {});
  assert.equal(decodeOrder(null), undefined);
  assert.equal(decodeOrder(''), undefined);
});

test('optional payment fields are left out until the order is paid', () => {
  const stored = JSON.parse(encodeOrder(created)) as Record<string, unknown>;
  for (const field of ['tx', 'payer_total', 'paid_at']) assert.equal(field in stored, false, field);
  const decoded = decodeOrder(encodeOrder(created))!;
  for (const field of ['transactionId', 'payerTotal', 'paidAt']) assert.equal(field in decoded, false, field);
});
