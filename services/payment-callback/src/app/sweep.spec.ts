import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventIds } from '../domain/events.js';
import {
  fakeDeps,
  fakePayApi,
  fakeProducer,
  fakeStore,
  NOW,
  paidTransaction,
  storedOrder,
} from '../../test/fakes.js';
import { reconcileOrder, sweepDueOrders } from './sweep.js';

const OLD = 120_000;

test('a due order that no longer exists leaves the schedule', async () => {
  const { store, due } = fakeStore();
  due.set('S1', NOW);
  await sweepDueOrders(fakeDeps({ store }));
  assert.equal(due.has('S1'), false);
});

test('owed events are re-emitted; a paid order with nothing left leaves the schedule', async () => {
  const order = storedOrder('S2', {
    state: 'PAID',
    transactionId: '42',
    paidAt: NOW,
    pendingEvents: { [eventIds.paid('S2')]: 'paid' },
  });
  const { store, due, order: current } = fakeStore([order]);
  due.set('S2', NOW);
  const producer = fakeProducer();
  await sweepDueOrders(fakeDeps({ store, producer }));
  assert.deepEqual(
    producer.emitted.map((e) => e.eventId),
    [eventIds.paid('S2')],
  );
  assert.deepEqual(current('S2')!.pendingEvents, {});
  assert.equal(due.has('S2'), false);
});

test('an unpaid order too young to reconcile is rescheduled for when it is old enough, not queried', async () => {
  const order = storedOrder('S3', {}, 1_000);
  const { store, due } = fakeStore([order]);
  due.set('S3', NOW);
  const api = fakePayApi();
  const deps = fakeDeps({ store, api });
  await sweepDueOrders(deps);
  assert.deepEqual(api.queried, []);
  assert.equal(due.get('S3'), order.createdAt + deps.reconcileAfterMs);
});

test('an old unpaid order WeChat Pay reports paid is applied as a notification would be', async () => {
  const order = storedOrder('S4', {}, OLD);
  const { store, due, order: current } = fakeStore([order]);
  due.set('S4', NOW);
  const api = fakePayApi({ S4: paidTransaction(order, { trade_state: 'REFUND' }) });
  const producer = fakeProducer();
  await sweepDueOrders(fakeDeps({ store, api, producer }));
  assert.deepEqual(api.queried, ['S4']);
  assert.equal(current('S4')!.state, 'PAID');
  assert.equal(current('S4')!.transactionId, '42-S4');
  assert.deepEqual(
    producer.emitted.map((e) => e.payload.case),
    ['paymentSucceeded'],
  );
  assert.equal(due.has('S4'), false);
});

test('closed or failed at WeChat Pay is recorded and no longer swept', async () => {
  for (const [tradeState, state] of [
    ['CLOSED', 'CLOSED'],
    ['REVOKED', 'CLOSED'],
    ['PAYERROR', 'PAYERROR'],
  ] as const) {
    const order = storedOrder('S5', {}, OLD);
    const { store, due, order: current } = fakeStore([order]);
    const api = fakePayApi({ S5: paidTransaction(order, { trade_state: tradeState }) });
    await reconcileOrder(fakeDeps({ store, api }), order);
    assert.equal(current('S5')!.state, state, tradeState);
    assert.equal(due.has('S5'), false, tradeState);
  }
});

test('still open at WeChat Pay (or unknown there) is looked at again later; a payer at it is recorded', async () => {
  const paying = storedOrder('S6', {}, OLD);
  const unknown = storedOrder('S7', {}, OLD);
  const { store, due, order: current } = fakeStore([paying, unknown]);
  const api = fakePayApi({ S6: paidTransaction(paying, { trade_state: 'USERPAYING' }) });
  const deps = fakeDeps({ store, api });
  await reconcileOrder(deps, paying);
  await reconcileOrder(deps, unknown);
  assert.equal(current('S6')!.state, 'USERPAYING');
  assert.equal(current('S7')!.state, 'CREATED');
  assert.equal(due.get('S6'), NOW + deps.reconcileAfterMs);
  assert.equal(due.get('S7'), NOW + deps.reconcileAfterMs);
});

test('an order whose sweep fails stays due (leased) and the others are still swept', async () => {
  const failing = storedOrder('S8', { pendingEvents: { [eventIds.created('S8')]: 'created' } }, OLD);
  const fine = storedOrder('S9', { state: 'CLOSED' });
  const { store, due } = fakeStore([failing, fine]);
  due.set('S8', NOW);
  due.set('S9', NOW);
  const producer = fakeProducer();
  producer.down = true;
  const deps = fakeDeps({ store, producer });
  await sweepDueOrders(deps);
  assert.equal(due.get('S8'), NOW + deps.eventRetryMs, 'leased until the retry');
  assert.equal(due.has('S9'), false);
});
