// The payment store against a real Redis: every state change through its Lua script, read back
// through the codec, with the statuses the use cases branch on.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startInfra, type Infra } from '@wxmesh/testing';
import { Redis } from 'ioredis';
import { orderContent } from '../../test/fakes.js';
import { newOrder } from '../domain/order.js';
import { createPaymentStore, keys, type PaymentStore } from './payment-store.js';

let infra: Infra<{ redis: true; kafka: false }>;
let redis: Redis;
let store: PaymentStore;

before(async () => {
  infra = await startInfra({ redis: true, kafka: false });
  redis = new Redis(infra.redisUrl, { db: 10, enableAutoPipelining: true });
  await redis.flushdb();
  store = createPaymentStore(redis);
});

after(async () => {
  redis?.disconnect();
  await infra?.stop();
});

const place = (outTradeNo: string) =>
  store.create(
    newOrder(orderContent(outTradeNo), {
      mchid: '1900000109',
      prepayId: `prepay-${outTradeNo}`,
      at: 1_000,
      createdEventId: `payment:${outTradeNo}:created`,
    }),
  );
const payment = (transactionId: string) => ({ transactionId, payerTotal: 90, paidAt: 2_000 });

test('create stores a new order once; a second create returns the first unchanged', async () => {
  const first = await place('C1');
  assert.equal(first.created, true);
  assert.equal(first.order.prepayId, 'prepay-C1');
  const again = await store.create({ ...first.order, prepayId: 'other' });
  assert.equal(again.created, false);
  assert.deepEqual(again.order, first.order);
  assert.deepEqual(await store.get('C1'), first.order);
  assert.equal(await store.get('C-none'), undefined);
  assert.equal(JSON.parse((await redis.get(keys.order('C1')))!).otn, 'C1', 'stored under its short names');
});

test('pay: applied once with its event owed, the same transaction a duplicate, another a conflict', async () => {
  await place('P1');
  const applied = await store.pay('P1', payment('42001'), 2_500, 'payment:P1:paid');
  assert.equal(applied.status, 'applied');
  assert.equal(applied.order!.state, 'PAID');
  assert.equal(applied.order!.transactionId, '42001');
  assert.equal(applied.order!.payerTotal, 90);
  assert.equal(applied.order!.paidAt, 2_000);
  assert.equal(applied.order!.updatedAt, 2_500);
  assert.equal(applied.order!.version, 2);
  assert.deepEqual(applied.order!.pendingEvents, {
    'payment:P1:created': 'created',
    'payment:P1:paid': 'paid',
  });
  const duplicate = await store.pay('P1', payment('42001'), 3_000, 'payment:P1:paid');
  assert.equal(duplicate.status, 'duplicate');
  assert.deepEqual(duplicate.order, applied.order);
  const conflict = await store.pay('P1', payment('42002'), 3_000, 'payment:P1:paid');
  assert.equal(conflict.status, 'conflict');
  assert.equal(conflict.order!.transactionId, '42001');
  const unknown = await store.pay('P-none', payment('42003'), 3_000, 'payment:P-none:paid');
  assert.deepEqual(unknown, { status: 'unknown', order: undefined });
});

test('refund: only a paid order, once per refund id, never more than was paid', async () => {
  await place('R1');
  const entry = { outRefundNo: 'RN1', amount: 60, succeededAt: 4_000 };
  assert.equal(
    (await store.refund('R1', '503001', entry, 4_100, 'payment:R1:refund:503001')).status,
    'conflict',
  );
  await store.pay('R1', payment('42010'), 2_500, 'payment:R1:paid');
  const applied = await store.refund('R1', '503001', entry, 4_100, 'payment:R1:refund:503001');
  assert.equal(applied.status, 'applied');
  assert.equal(applied.order!.state, 'REFUNDED');
  assert.equal(applied.order!.refundedTotal, 60);
  assert.deepEqual(applied.order!.refunds, { '503001': entry });
  assert.equal(applied.order!.pendingEvents['payment:R1:refund:503001'], 'refund');
  assert.equal(
    (await store.refund('R1', '503001', entry, 4_200, 'payment:R1:refund:503001')).status,
    'duplicate',
  );
  const over = await store.refund(
    'R1',
    '503002',
    { ...entry, amount: 41 },
    4_300,
    'payment:R1:refund:503002',
  );
  assert.equal(over.status, 'over-refund');
  assert.equal(over.order!.refundedTotal, 60);
  const rest = await store.refund(
    'R1',
    '503003',
    { ...entry, amount: 40 },
    4_400,
    'payment:R1:refund:503003',
  );
  assert.equal(rest.status, 'applied');
  assert.equal(rest.order!.refundedTotal, 100);
  assert.equal(rest.order!.version, 4);
});

test('settle removes acknowledged events only; all settled reads as an empty map', async () => {
  await place('S1');
  await store.pay('S1', payment('42020'), 2_500, 'payment:S1:paid');
  const partly = await store.settle('S1', ['payment:S1:created', 'payment:S1:unknown']);
  assert.deepEqual(partly!.pendingEvents, { 'payment:S1:paid': 'paid' });
  const settled = await store.settle('S1', ['payment:S1:paid']);
  assert.deepEqual(settled!.pendingEvents, {});
  assert.deepEqual(await store.settle('S1', []), settled);
  assert.equal(await store.settle('S-none', ['x']), undefined);
});

test('an unpaid order moves to USERPAYING and CLOSED; a paid one does not move', async () => {
  await place('U1');
  const paying = await store.setUnpaidState('U1', 'USERPAYING', 5_000);
  assert.equal(paying!.state, 'USERPAYING');
  assert.equal(paying!.version, 2);
  assert.equal((await store.setUnpaidState('U1', 'USERPAYING', 5_100))!.version, 2, 'same state: no change');
  assert.equal((await store.setUnpaidState('U1', 'CLOSED', 5_200))!.state, 'CLOSED');
  assert.equal((await store.setUnpaidState('U1', 'USERPAYING', 5_300))!.state, 'CLOSED', 'closed is final');
  await place('U2');
  await store.pay('U2', payment('42030'), 2_500, 'payment:U2:paid');
  assert.equal((await store.setUnpaidState('U2', 'CLOSED', 5_000))!.state, 'PAID');
});

test('claimDue leases due orders so a second claim skips them; unschedule removes one', async () => {
  await store.schedule('D1', 100);
  await store.schedule('D2', 200);
  await store.schedule('D3', 10_000);
  assert.deepEqual(await store.claimDue(500, 5_000, 1), ['D1']);
  assert.deepEqual(await store.claimDue(500, 5_000, 10), ['D2']);
  assert.deepEqual(await store.claimDue(500, 5_000, 10), [], 'leased until 5000');
  await store.unschedule('D1');
  assert.deepEqual((await store.claimDue(6_000, 9_000, 10)).sort(), ['D2']);
  assert.equal(await redis.zscore(keys.due, 'D3'), '10000');
});

test('a nonce passes again with the same content, not with other content', async () => {
  assert.equal(await store.claimNonce('n1', 'fp-a', 60_000), true);
  assert.equal(await store.claimNonce('n1', 'fp-a', 60_000), true, 'redelivery');
  assert.equal(await store.claimNonce('n1', 'fp-b', 60_000), false, 'replay with other content');
  assert.ok((await redis.pttl(keys.nonce('n1'))) > 0);
});

test('an anomaly is recorded once per key', async () => {
  assert.equal(await store.recordAnomaly('A1', 'tx:1', { fields: ['amount_total'] }), true);
  assert.equal(await store.recordAnomaly('A1', 'tx:1', { fields: ['other'] }), false);
  assert.equal(await store.recordAnomaly('A1', 'tx:2', { fields: ['appid'] }), true);
  const recorded = await redis.hgetall(keys.anomalies('A1'));
  assert.deepEqual(
    Object.fromEntries(Object.entries(recorded).map(([key, json]) => [key, JSON.parse(json) as unknown])),
    { 'tx:1': { fields: ['amount_total'] }, 'tx:2': { fields: ['appid'] } },
  );
});
