// The mini-program side's state parts alone, on a hand-driven clock: credentials and their overlap,
// single-use codes, daily quotas on the CST day, the sandbox clock and the reset of the whole state.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WxError } from '../domain/errors.js';
import { MP_LIMITS } from '../domain/limits.js';
import { createSandboxClock } from './clock.js';
import { createCodeTable } from './codes.js';
import { createCredentialTable } from './credentials.js';
import { createMpState } from './index.js';
import { createDailyQuotas } from './quotas.js';

/** A clock the test moves by hand. */
function manualClock(start = Date.UTC(2026, 0, 1, 4)) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

let counter = 0;
const random = (size: number) => Buffer.alloc(size, ++counter);

const errcodeOf = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    if (error instanceof WxError) return error.errcode;
    throw error;
  }
  return 0;
};

test('a superseded credential keeps at most the overlap; revoking ends the app’s live ones', () => {
  const clock = manualClock();
  const table = createCredentialTable(clock.now, random);
  const first = table.issue('wxa');
  assert.equal(table.expiresIn(first), 7200);
  clock.advance(1000);
  table.supersede(first);
  const second = table.issue('wxa');
  assert.deepEqual(table.liveOf('wxa'), [first, second]);
  clock.advance(MP_LIMITS.overlapMs);
  assert.deepEqual(table.liveOf('wxa'), [second]);
  assert.equal(table.get(first)!.superseded, true);
  const other = table.issue('wxb');
  assert.equal(table.revokeApp('wxa'), 1);
  assert.deepEqual(table.liveOf('wxa'), []);
  assert.deepEqual(table.liveOf('wxb'), [other]);
});

test('codes are single-use, per app, and expire five minutes after registration', () => {
  const clock = manualClock();
  const codes = createCodeTable<string>(clock.now);
  codes.register('wxa', 'c1', 'fixture-1');
  codes.register('wxa', 'c2', 'fixture-2');
  assert.equal(
    errcodeOf(() => codes.take('wxb', 'c1', 40163)),
    40029,
  );
  assert.equal(
    errcodeOf(() => codes.take('wxa', undefined, 40163)),
    41008,
  );
  assert.equal(codes.take('wxa', 'c1', 40163).fixture, 'fixture-1');
  assert.equal(
    errcodeOf(() => codes.take('wxa', 'c1', 40163)),
    40163,
  );
  clock.advance(MP_LIMITS.codeTtlMs);
  assert.equal(
    errcodeOf(() => codes.take('wxa', 'c2', 40163)),
    40029,
  );
});

test('daily quotas count per app and API and start again at midnight China time', () => {
  const clock = manualClock(Date.UTC(2026, 0, 1, 15, 59)); // 23:59 CST
  const quotas = createDailyQuotas(clock.now);
  quotas.set('wxa', '/cgi-bin/token', 1);
  quotas.consume('wxa', '/cgi-bin/token');
  assert.equal(
    errcodeOf(() => quotas.consume('wxa', '/cgi-bin/token')),
    45009,
  );
  quotas.consume('wxb', '/cgi-bin/token');
  quotas.consume('wxa', '/sns/jscode2session');
  clock.advance(60_000);
  quotas.consume('wxa', '/cgi-bin/token');
  for (let i = 0; i < MP_LIMITS.forceRefreshDaily; i++) quotas.consume('wxa', 'force_refresh');
  assert.equal(
    errcodeOf(() => quotas.consume('wxa', 'force_refresh')),
    45009,
  );
});

test('the sandbox clock adds its offset; resetting the state restores apps, clock and tables', () => {
  const base = manualClock();
  const clock = createSandboxClock(base.now);
  clock.advance(5000);
  assert.equal(clock.now(), base.now() + 5000);

  const state = createMpState({ now: base.now, random, apps: [{ appid: 'wxa', secret: 's' }] });
  state.apps.register({ appid: 'wxb', secret: 't' });
  state.clock.advance(1000);
  const token = state.tokens.issue('wxa');
  state.counters.count('wxa', 'accessTokensIssued');
  state.reset();
  assert.equal(state.apps.has('wxa'), true);
  assert.equal(state.apps.has('wxb'), false);
  assert.equal(state.clock.offsetMs(), 0);
  assert.equal(state.tokens.get(token), undefined);
  assert.deepEqual(state.counters.snapshot(), {});
});
