import assert from 'node:assert/strict';
import { test } from 'node:test';
import { anomalyKey } from '../domain/anomaly-key.js';
import { eventIds } from '../domain/events.js';
import { fakeDeps, fakeProducer, fakeStore, NOW, paidTransaction, storedOrder } from '../../test/fakes.js';
import { applyTransaction } from './apply-transaction.js';
import { NotDurableError } from './owed-events.js';

test('a transaction that is not SUCCESS is ignored without reading the order', async () => {
  const order = storedOrder('T1');
  const { store, calls } = fakeStore([order]);
  const outcome = await applyTransaction(
    fakeDeps({ store }),
    paidTransaction(order, { trade_state: 'NOTPAY' }),
    'notify',
  );
  assert.equal(outcome, 'ignored');
  assert.deepEqual(calls, []);
});

test('a matching payment is scheduled, applied, evented and settled; a redelivery is a duplicate', async () => {
  const order = storedOrder('T2');
  const { store, calls, order: current } = fakeStore([order]);
  const producer = fakeProducer();
  const deps = fakeDeps({ store, producer });
  const tx = paidTransaction(order, { amount: { total: 100, payer_total: 90 } });
  assert.equal(await applyTransaction(deps, tx, 'notify'), 'applied');
  assert.deepEqual(calls, [
    'get T2',
    'schedule T2',
    'pay T2 42-T2',
    `settle T2 ${eventIds.paid('T2')}`,
    'unschedule T2',
  ]);
  const paid = current('T2')!;
  assert.equal(paid.state, 'PAID');
  assert.equal(paid.payerTotal, 90);
  assert.equal(paid.paidAt, Date.parse('2024-01-01T10:00:00+08:00'));
  assert.deepEqual(
    producer.emitted.map((e) => e.eventId),
    [eventIds.paid('T2')],
  );
  assert.equal(await applyTransaction(deps, tx, 'notify'), 'duplicate');
  assert.equal(producer.emitted.length, 1, 'nothing owed any more: nothing emitted again');
});

test('without a success time the payment is dated now', async () => {
  const order = storedOrder('T3');
  const { store, order: current } = fakeStore([order]);
  await applyTransaction(
    fakeDeps({ store }),
    paidTransaction(order, { success_time: undefined }),
    'reconcile',
  );
  assert.equal(current('T3')!.paidAt, NOW);
});

test('a payment for an unknown order is an anomaly about the payer WeChat Pay names', async () => {
  const { store, calls } = fakeStore();
  const producer = fakeProducer();
  const tx = paidTransaction(storedOrder('T4'));
  assert.equal(await applyTransaction(fakeDeps({ store, producer }), tx, 'notify'), 'anomaly');
  assert.deepEqual(calls, ['get T4', `recordAnomaly T4 ${anomalyKey('tx:42-T4', tx)}`]);
  const [event] = producer.emitted;
  assert.equal(event?.payload.case, 'paymentAnomalyDetected');
  assert.equal(event?.wechat?.openid, 'o_alice');
  assert.deepEqual(event?.payload.case === 'paymentAnomalyDetected' && event.payload.value.mismatchedFields, [
    'order',
  ]);

  const anonymous = fakeProducer();
  const nobody = paidTransaction(storedOrder('T5'), { payer: undefined });
  assert.equal(await applyTransaction(fakeDeps({ store, producer: anonymous }), nobody, 'notify'), 'anomaly');
  assert.deepEqual(anonymous.emitted, [], 'no payer: recorded, no event');
});

test('a payment that disagrees with the order is recorded as an anomaly and never applied', async () => {
  const order = storedOrder('T6');
  const { store, calls, anomalies, order: current } = fakeStore([order]);
  const tx = paidTransaction(order, { amount: { total: 1 }, appid: 'wxother' });
  assert.equal(await applyTransaction(fakeDeps({ store }), tx, 'notify'), 'anomaly');
  const key = anomalyKey('tx:42-T6', tx);
  assert.deepEqual(calls, ['get T6', `recordAnomaly T6 ${key}`]);
  assert.deepEqual((anomalies.get(`T6 ${key}`) as { fields: string[] }).fields, ['appid', 'amount_total']);
  assert.equal(current('T6')!.state, 'CREATED');
});

test('a second transaction for a paid order is an anomaly naming the transaction that paid it', async () => {
  const order = storedOrder('T7', { state: 'PAID', transactionId: '42-first' });
  const { store, anomalies } = fakeStore([order]);
  const producer = fakeProducer();
  const tx = paidTransaction(order, { transaction_id: '42-second' });
  assert.equal(await applyTransaction(fakeDeps({ store, producer }), tx, 'notify'), 'anomaly');
  const detail = anomalies.get(`T7 ${anomalyKey('tx:42-second', tx)}`) as {
    fields: string[];
    detail: { paidBy: string };
  };
  assert.deepEqual(detail.fields, ['transaction_id']);
  assert.equal(detail.detail.paidBy, '42-first');
  assert.equal(producer.emitted[0]?.payload.case, 'paymentAnomalyDetected');
});

test('Kafka down: NotDurableError, the order paid with its event owed and due for a retry', async () => {
  const order = storedOrder('T8');
  const { store, due, order: current } = fakeStore([order]);
  const producer = fakeProducer();
  producer.down = true;
  const deps = fakeDeps({ store, producer });
  await assert.rejects(applyTransaction(deps, paidTransaction(order), 'notify'), NotDurableError);
  assert.equal(current('T8')!.state, 'PAID');
  assert.deepEqual(current('T8')!.pendingEvents, { [eventIds.paid('T8')]: 'paid' });
  assert.equal(due.get('T8'), NOW + deps.eventRetryMs);
  await assert.rejects(
    applyTransaction(fakeDeps({ store, producer }), paidTransaction(storedOrder('T9')), 'notify'),
    NotDurableError,
    'an anomaly event Kafka did not take is not durable either',
  );
});

test('concurrent deliveries of one notification share one attempt: one applied, the sharers duplicates', async () => {
  const order = storedOrder('T10');
  const { store, calls } = fakeStore([order]);
  const deps = fakeDeps({ store });
  const tx = paidTransaction(order);
  const outcomes = await Promise.all(Array.from({ length: 5 }, () => applyTransaction(deps, tx, 'notify')));
  assert.deepEqual(outcomes, ['applied', ...Array(4).fill('duplicate')]);
  assert.equal(calls.filter((c) => c.startsWith('pay ')).length, 1);
});

test('three different mismatches of one transaction are each recorded and counted; a redelivered one is not', async () => {
  const order = storedOrder('T11');
  const { store, anomalies } = fakeStore([order]);
  const deps = fakeDeps({ store });
  const counted = async () =>
    (await deps.metrics.anomalies.get()).values.find((v) => v.labels.field === 'amount_total')?.value ?? 0;
  const before = await counted();
  const mismatches = [1, 2, 3].map((total) => paidTransaction(order, { amount: { total } }));
  for (const tx of [...mismatches, mismatches[0]!])
    assert.equal(await applyTransaction(deps, tx, 'notify'), 'anomaly');
  assert.equal((await counted()) - before, 3);
  assert.equal([...anomalies.keys()].filter((k) => k.startsWith('T11 tx:42-T11:')).length, 3);
});
