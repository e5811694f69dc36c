import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventIds } from '../domain/events.js';
import { fakeDeps, fakeProducer, fakeStore, NOW, storedOrder } from '../../test/fakes.js';
import { flushOwedEvents, NotDurableError } from './owed-events.js';

test('an order that owes nothing emits and settles nothing', async () => {
  const order = storedOrder('F1');
  const { store, calls } = fakeStore([order]);
  const producer = fakeProducer();
  await flushOwedEvents(fakeDeps({ store, producer }), order);
  assert.deepEqual(producer.emitted, []);
  assert.deepEqual(calls, []);
});

test('owed events are emitted, then settled; a settled paid order leaves the schedule', async () => {
  const order = storedOrder('F2', {
    state: 'PAID',
    transactionId: '42',
    paidAt: NOW,
    pendingEvents: { [eventIds.created('F2')]: 'created', [eventIds.paid('F2')]: 'paid' },
  });
  const { store, calls, order: current } = fakeStore([order]);
  const producer = fakeProducer();
  await flushOwedEvents(fakeDeps({ store, producer }), order);
  assert.deepEqual(
    producer.emitted.map((e) => e.payload.case),
    ['orderCreated', 'paymentSucceeded'],
  );
  assert.deepEqual(calls, [`settle F2 ${eventIds.created('F2')},${eventIds.paid('F2')}`, 'unschedule F2']);
  assert.deepEqual(current('F2')!.pendingEvents, {});
});

test('an unpaid order stays on the schedule once its events are settled (it may still be reconciled)', async () => {
  const order = storedOrder('F3', { pendingEvents: { [eventIds.created('F3')]: 'created' } });
  const { store, calls } = fakeStore([order]);
  await flushOwedEvents(fakeDeps({ store }), order);
  assert.deepEqual(calls, [`settle F3 ${eventIds.created('F3')}`]);
});

test('Kafka not acknowledging is NotDurableError, and the events stay owed', async () => {
  const order = storedOrder('F4', { pendingEvents: { [eventIds.created('F4')]: 'created' } });
  const { store, calls, order: current } = fakeStore([order]);
  const producer = fakeProducer();
  producer.down = true;
  await assert.rejects(flushOwedEvents(fakeDeps({ store, producer }), order), NotDurableError);
  assert.deepEqual(calls, []);
  assert.deepEqual(current('F4')!.pendingEvents, { [eventIds.created('F4')]: 'created' });
});
