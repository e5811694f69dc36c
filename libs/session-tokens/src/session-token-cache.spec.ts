import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { VerifySessionResponseSchema } from '@wxmesh/contracts';
import { sessionVerifierFrom, type SessionTokenVerifier, type VerifiedSession } from '@wxmesh/rpc';
import { cachedSessionVerifier } from './session-token-cache.js';
import { createVerifyCache } from './verify-cache.js';
import type { VerifyCacheMetrics } from './verify-cache-metrics.js';

const TTL = 30_000;
const HOUR = 3_600_000;
const signal = new AbortController().signal;

/**
 * auth-verify as the lookup sees it: live sessions by token, each lookup counted. `during` runs
 * while a lookup is in flight (after the verifier took its ticket), to race it.
 */
function remote(now: () => number) {
  const live = new Map<string, VerifiedSession>();
  let lookups = 0;
  let failure: ConnectError | undefined;
  let during: (() => void) | undefined;
  const lookup: SessionTokenVerifier = async (token) => {
    lookups++;
    during?.();
    if (failure !== undefined) throw failure;
    return live.get(token);
  };
  return {
    lookup,
    lookups: () => lookups,
    /** A live session for `token`, expiring in `expiresInMs` (null: its answer names no expiry). */
    signIn(token: string, id: string, expiresInMs: number | null = HOUR) {
      const base = { sessionId: id, appid: 'wxa', openid: `o_${id}`, unionid: '' };
      live.set(token, expiresInMs === null ? base : { ...base, expiresAt: now() + expiresInMs });
    },
    revoke: (token: string) => live.delete(token),
    failWith: (err: ConnectError | undefined) => (failure = err),
    whileLookingUp: (fn: (() => void) | undefined) => (during = fn),
  };
}

function setup() {
  let t = 1_700_000_000_000;
  const now = () => t;
  const results: string[] = [];
  const metrics: VerifyCacheMetrics = {
    lookup: (result) => results.push(result),
    invalidated: () => {},
    storeRefused: () => results.push('refused'),
    feedHealthy: () => {},
  };
  const cache = createVerifyCache<VerifiedSession>({
    maxEntries: 100,
    ttlMs: TTL,
    now,
    onStoreRefused: () => metrics.storeRefused(),
  });
  const auth = remote(now);
  const verify = cachedSessionVerifier({ cache, metrics, lookup: auth.lookup });
  return {
    cache,
    auth,
    verify: (token: string) => verify(token, signal),
    results,
    advance: (ms: number) => (t += ms),
    // The feed proves health for the next minute unless a test says otherwise.
    healthy: () => cache.feedFreshUntil(t + 60_000),
  };
}

test('a repeat token is served from the cache: the lookup is asked once', async () => {
  const env = setup();
  env.healthy();
  env.auth.signIn('token-a', 's-a');
  for (let i = 0; i < 3; i++) assert.equal((await env.verify('token-a'))?.openid, 'o_s-a');
  assert.equal(env.auth.lookups(), 1);
  assert.deepEqual(env.results, ['miss', 'hit', 'hit']);
});

test('while the feed is down every call asks the lookup, and nothing is kept for later', async () => {
  const env = setup();
  env.auth.signIn('token-a', 's-a');
  await env.verify('token-a');
  await env.verify('token-a');
  assert.equal(env.auth.lookups(), 2);
  env.healthy();
  await env.verify('token-a');
  assert.equal(env.auth.lookups(), 3, 'the bypassed answers were not stored');
  assert.deepEqual(env.results, ['bypass', 'bypass', 'miss']);
});

test('a SessionEnded drops the entry: the next call asks the lookup, which no longer knows the token', async () => {
  const env = setup();
  env.healthy();
  env.auth.signIn('token-a', 's-a');
  await env.verify('token-a');
  env.auth.revoke('token-a');
  assert.equal((await env.verify('token-a'))?.sessionId, 's-a', 'cached until the event arrives');
  env.cache.invalidate('s-a');
  assert.equal(await env.verify('token-a'), undefined);
  assert.equal(env.auth.lookups(), 2);
});

test('a SessionEnded seen while the lookup is in flight keeps its answer out of the cache', async () => {
  const env = setup();
  env.healthy();
  env.auth.signIn('token-a', 's-a');
  env.auth.whileLookingUp(() => env.cache.invalidate('s-a'));
  assert.equal((await env.verify('token-a'))?.sessionId, 's-a', 'the answer itself is passed on');
  env.auth.whileLookingUp(undefined);
  await env.verify('token-a');
  assert.equal(env.auth.lookups(), 2, 'the racing answer was not served from the cache');
  assert.deepEqual(env.results, ['miss', 'refused', 'miss', 'refused']);

  // The feed went blind and came back while token-b was looked up: its SessionEnded may be lost.
  env.auth.signIn('token-b', 's-b');
  env.auth.whileLookingUp(() => (env.cache.feedDown(), env.healthy()));
  await env.verify('token-b');
  env.auth.whileLookingUp(undefined);
  await env.verify('token-b');
  assert.equal(env.auth.lookups(), 4, 'an answer from before the gap was not kept');
});

test("an entry never outlives the session's expiry, and an answer without one is not kept", async () => {
  const env = setup();
  env.healthy();
  env.auth.signIn('token-a', 's-a', 1_000);
  await env.verify('token-a');
  env.advance(999);
  env.healthy();
  await env.verify('token-a');
  assert.equal(env.auth.lookups(), 1, 'served before the session expires');
  env.advance(1);
  env.healthy();
  env.auth.revoke('token-a');
  assert.equal(await env.verify('token-a'), undefined, 'asked again once the session expired');

  env.auth.signIn('token-b', 's-b', null);
  await env.verify('token-b');
  await env.verify('token-b');
  assert.equal(env.auth.lookups(), 4, 'no expiry, no entry');
});

test('unknown tokens and failures are never cached; a failure keeps its code', async () => {
  const env = setup();
  env.healthy();
  assert.equal(await env.verify('token-x'), undefined);
  env.auth.signIn('token-x', 's-x');
  assert.equal((await env.verify('token-x'))?.sessionId, 's-x', 'an unknown answer was not remembered');

  env.auth.signIn('token-y', 's-y');
  env.auth.failWith(new ConnectError('auth-verify is down', Code.Unavailable));
  await assert.rejects(env.verify('token-y'), (err: ConnectError) => err.code === Code.Unavailable);
  env.auth.failWith(undefined);
  assert.equal((await env.verify('token-y'))?.sessionId, 's-y');
  assert.equal(env.auth.lookups(), 4);
});

test("sessionVerifierFrom carries VerifySession's expires_at (epoch ms), which bounds the cached entry", async () => {
  let t = 1_700_000_000_000;
  const now = () => t;
  let calls = 0;
  const authVerify = {
    verifySession: async ({ sessionToken }: { sessionToken: string }) => {
      calls++;
      if (sessionToken !== 'token-a') throw new ConnectError('unknown token', Code.Unauthenticated);
      return create(VerifySessionResponseSchema, {
        sessionId: 's-a',
        appid: 'wxa',
        openid: 'o_a',
        unionid: 'u_a',
        expiresAt: timestampFromMs(now() + 5_000),
      });
    },
  };
  const lookup = sessionVerifierFrom(authVerify);
  assert.deepEqual(await lookup('token-a', signal), {
    sessionId: 's-a',
    appid: 'wxa',
    openid: 'o_a',
    unionid: 'u_a',
    expiresAt: t + 5_000,
  });
  assert.equal(await lookup('token-b', signal), undefined);

  const cache = createVerifyCache<VerifiedSession>({ maxEntries: 10, ttlMs: TTL, now });
  cache.feedFreshUntil(t + 60_000);
  const noMetrics = { lookup() {}, invalidated() {}, storeRefused() {}, feedHealthy() {} };
  const verify = cachedSessionVerifier({ cache, metrics: noMetrics, lookup });
  calls = 0;
  await verify('token-a', signal);
  t += 4_999;
  await verify('token-a', signal);
  assert.equal(calls, 1);
  t += 1;
  await verify('token-a', signal);
  assert.equal(calls, 2, 'the entry ended with the session, well before the 30 s TTL');
});
