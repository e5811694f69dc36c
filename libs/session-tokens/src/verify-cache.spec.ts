import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VerifiedSession } from '@wxmesh/rpc';
import { createVerifyCache } from './verify-cache.js';

const TTL = 30_000;

function setup(options: { maxEntries?: number; endedMemory?: number } = {}) {
  let t = 1_000_000;
  const changes: boolean[] = [];
  const invalidated: Array<[string, number]> = [];
  let refused = 0;
  const cache = createVerifyCache<VerifiedSession>({
    maxEntries: options.maxEntries ?? 100,
    ttlMs: TTL,
    endedMemory: options.endedMemory,
    now: () => t,
    onServingChange: (s) => changes.push(s),
    onInvalidated: (cause, n) => invalidated.push([cause, n]),
    onStoreRefused: () => refused++,
  });
  return {
    cache,
    changes,
    invalidated,
    refused: () => refused,
    advance: (ms: number) => (t += ms),
    now: () => t,
    // The feed proves health for the next minute unless a test says otherwise.
    healthy: () => cache.feedFreshUntil(t + 60_000),
  };
}

const session = (id: string): VerifiedSession => ({
  sessionId: id,
  appid: 'wxa',
  openid: `o_${id}`,
  unionid: '',
});

function cached(env: ReturnType<typeof setup>, token: string, id: string, expiresInMs = 3_600_000) {
  const key = env.cache.keyOf(token);
  const ticket = env.cache.begin();
  return { key, stored: env.cache.store(ticket, key, session(id), env.now() + expiresInMs) };
}

test('keys are digests: the token never appears, and another token misses', () => {
  const env = setup();
  env.healthy();
  const token = 'o_user.AAAAAAAAAAAAAAAAAAAAAA.secretsecretsecretsecretsecretsecretsecret';
  const { key, stored } = cached(env, token, 's1');
  assert.ok(stored);
  assert.ok(!key.includes('secret') && !key.includes('o_user'));
  assert.equal(env.cache.get(key)?.sessionId, 's1');
  assert.equal(env.cache.get(env.cache.keyOf(`${token}x`)), undefined);
});

test('an entry lives VERIFY_CACHE_TTL at most, and never past the session’s expiry', () => {
  const env = setup();
  env.healthy();
  const long = cached(env, 't-long', 's1').key;
  const short = cached(env, 't-short', 's2', 5_000).key;
  env.advance(4_999);
  assert.ok(env.cache.get(short), 'before its session expires');
  env.advance(1);
  assert.equal(env.cache.get(short), undefined, 'gone when the session expires');
  env.advance(TTL - 5_001);
  assert.ok(env.cache.get(long));
  env.advance(1);
  assert.equal(env.cache.get(long), undefined, 'gone after the TTL');
  assert.equal(cached(env, 't-expired', 's3', 0).stored, false, 'an expired answer is not kept');
});

test('bounded: the least recently used entry goes first', () => {
  const env = setup({ maxEntries: 2 });
  env.healthy();
  const a = cached(env, 'ta', 'sa').key;
  const b = cached(env, 'tb', 'sb').key;
  env.cache.get(a);
  const c = cached(env, 'tc', 'sc').key;
  assert.ok(env.cache.get(a) && env.cache.get(c));
  assert.equal(env.cache.get(b), undefined);
  assert.equal(env.cache.size, 2);
});

test('SessionEnded drops the session’s entry', () => {
  const env = setup();
  env.healthy();
  const a = cached(env, 'ta', 'sa').key;
  const b = cached(env, 'tb', 'sb').key;
  env.cache.invalidate('sa');
  assert.equal(env.cache.get(a), undefined);
  assert.ok(env.cache.get(b));
  env.cache.invalidate('unknown');
  assert.deepEqual(env.invalidated, [
    ['session_ended', 1],
    ['session_ended', 0],
  ]);
});

test('a miss that races its session’s end is not stored; one racing another session’s end is', () => {
  const env = setup();
  env.healthy();
  const key = env.cache.keyOf('ta');
  const ticket = env.cache.begin();
  // ... the call to session is in flight; the revocation's event arrives before the answer.
  env.cache.invalidate('sa');
  assert.equal(env.cache.store(ticket, key, session('sa'), env.now() + 60_000), false);
  assert.equal(env.cache.get(key), undefined);
  assert.equal(env.refused(), 1);

  const other = env.cache.begin();
  env.cache.invalidate('sz');
  assert.ok(env.cache.store(other, env.cache.keyOf('tb'), session('sb'), env.now() + 60_000));
});

test('when the memory of ended sessions overflows during a call, the store is refused', () => {
  const env = setup({ endedMemory: 2 });
  env.healthy();
  const ticket = env.cache.begin();
  env.cache.invalidate('sa'); // forgotten below: it might have been the racing one
  env.cache.invalidate('s1');
  env.cache.invalidate('s2');
  assert.equal(env.cache.store(ticket, env.cache.keyOf('ta'), session('sa'), env.now() + 60_000), false);
  assert.equal(env.cache.store(ticket, env.cache.keyOf('tb'), session('sb'), env.now() + 60_000), false);
  assert.ok(cached(env, 'tb', 'sb').stored, 'a call begun after the overflow is stored');
});

test('feed down: everything is cleared, nothing is served or stored until it is healthy again', () => {
  const env = setup();
  assert.equal(env.cache.serving(), false, 'not serving before the feed has proven itself');
  assert.equal(cached(env, 't0', 's0').stored, false);
  env.healthy();
  const a = cached(env, 'ta', 'sa').key;
  const inFlight = env.cache.begin();
  env.cache.feedDown();
  assert.equal(env.cache.serving(), false);
  assert.equal(env.cache.get(a), undefined);
  assert.equal(env.cache.size, 0);
  assert.equal(cached(env, 'tb', 'sb').stored, false, 'not stored while down');
  env.healthy();
  assert.equal(env.cache.get(a), undefined, 'the cleared entry does not come back');
  assert.equal(
    env.cache.store(inFlight, env.cache.keyOf('tc'), session('sc'), env.now() + 60_000),
    false,
    'a call begun before the outage is not stored after it',
  );
  assert.ok(cached(env, 'tc', 'sc').stored);
  assert.deepEqual(env.changes, [true, false, true]);
  assert.deepEqual(env.invalidated, [['feed_down', 1]]);
});

test('the feed’s proof lapses on its own: serving stops and the cache clears at that instant', () => {
  const env = setup();
  env.cache.feedFreshUntil(env.now() + 3_000);
  const a = cached(env, 'ta', 'sa').key;
  env.advance(2_999);
  assert.ok(env.cache.get(a));
  env.advance(1);
  assert.equal(env.cache.get(a), undefined);
  assert.equal(env.cache.serving(), false);
  assert.equal(env.cache.size, 0);
  assert.deepEqual(env.changes, [true, false]);
});
