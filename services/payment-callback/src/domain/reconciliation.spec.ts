import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reconcileStep, sweepStep } from './reconciliation.js';

test('paid at WeChat Pay (refunded since counts) is applied', () => {
  assert.deepEqual(reconcileStep('SUCCESS'), { kind: 'apply' });
  assert.deepEqual(reconcileStep('REFUND'), { kind: 'apply' });
});

test('closed, revoked or failed at WeChat Pay is final', () => {
  assert.deepEqual(reconcileStep('CLOSED'), { kind: 'finish', state: 'CLOSED' });
  assert.deepEqual(reconcileStep('REVOKED'), { kind: 'finish', state: 'CLOSED' });
  assert.deepEqual(reconcileStep('PAYERROR'), { kind: 'finish', state: 'PAYERROR' });
});

test('still open, or unknown to WeChat Pay, is looked at again; a payer at it is recorded', () => {
  assert.deepEqual(reconcileStep('USERPAYING'), { kind: 'wait', state: 'USERPAYING' });
  assert.deepEqual(reconcileStep('NOTPAY'), { kind: 'wait' });
  assert.deepEqual(reconcileStep(undefined), { kind: 'wait' });
});

test('the sweeper reconciles an unpaid order only once it is old enough', () => {
  const unpaid = { state: 'CREATED' as const, createdAt: 1_000, pendingEvents: {} };
  assert.deepEqual(sweepStep(unpaid, 1_500, 1_000), { kind: 'reschedule', at: 2_000 });
  assert.deepEqual(sweepStep(unpaid, 2_000, 1_000), { kind: 'reconcile' });
  assert.deepEqual(sweepStep({ ...unpaid, state: 'USERPAYING' }, 9_000, 1_000), { kind: 'reconcile' });
});

test('the sweeper forgets a settled order and keeps one that still owes events', () => {
  const paid = { state: 'PAID' as const, createdAt: 1_000, pendingEvents: {} };
  assert.deepEqual(sweepStep(paid, 1_500, 1_000), { kind: 'unschedule' });
  assert.deepEqual(sweepStep({ ...paid, state: 'CLOSED' }, 1_500, 1_000), { kind: 'unschedule' });
  assert.deepEqual(sweepStep({ ...paid, pendingEvents: { 'payment:T:paid': 'paid' } }, 1_500, 1_000), {
    kind: 'keep',
  });
});
