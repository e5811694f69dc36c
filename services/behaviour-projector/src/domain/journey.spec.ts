import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyFunnelDay, emptyJourney, zeroCounters } from './journey.js';
import { JOURNEY_COUNTERS } from './projection.js';

test('an unknown user has no times, no flags and every counter at zero', () => {
  const journey = emptyJourney();
  assert.equal(journey.firstSeenAt, undefined);
  assert.equal(journey.lastEvent, undefined);
  assert.deepEqual([journey.appid, journey.unionid, journey.flags.size], ['', '', 0]);
  assert.deepEqual(Object.keys(journey.counters).sort(), [...JOURNEY_COUNTERS].sort());
  for (const counter of JOURNEY_COUNTERS) assert.equal(journey.counters[counter], 0n);
});

test('zero counters are a fresh object each time', () => {
  const a = zeroCounters();
  a.logins = 5n;
  assert.equal(zeroCounters().logins, 0n);
});

test('an empty funnel day counts nobody at any step', () => {
  assert.deepEqual(emptyFunnelDay('2025-05-01'), {
    day: '2025-05-01',
    logged_in: 0,
    phone_bound: 0,
    ordered: 0,
    paid: 0,
  });
});
