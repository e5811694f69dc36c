import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cstDay, daysBetween, isCalendarDate } from './calendar.js';

test('days: UTC+8 dates and inclusive ranges across month ends', () => {
  assert.equal(cstDay(Date.UTC(2024, 11, 31, 15, 59)), '2024-12-31');
  assert.equal(cstDay(Date.UTC(2024, 11, 31, 16, 0)), '2025-01-01');
  assert.deepEqual(daysBetween('2024-02-28', '2024-03-01'), ['2024-02-28', '2024-02-29', '2024-03-01']);
  assert.deepEqual(daysBetween('2025-05-01', '2025-05-01'), ['2025-05-01']);
});

test('a calendar date names a real day', () => {
  assert.equal(isCalendarDate('2024-02-29'), true);
  assert.equal(isCalendarDate('2025-02-29'), false);
  assert.equal(isCalendarDate('2025-02-30'), false);
  assert.equal(isCalendarDate('2025-13-01'), false);
  assert.equal(isCalendarDate('2025-1-01'), false);
});
