import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { GetSessionResponseSchema, TouchSessionResponseSchema } from '@wxmesh/contracts';
import { createVerifyCache, type VerifyCacheMetrics } from '@wxmesh/session-tokens';
import {
  createSessionVerifier,
  edgeTokenVerifier,
  type SessionLookup,
  type VerifyAnswer,
} from './verify-session.js';

const NOW = 1_700_000_000_000;
const signal = new AbortController().signal;

/** session as auth-verify sees it through its peer client: tokens it knows, calls counted. */
function sessionPeer(failure?: ConnectError) {
  const live = new Map([['token-a', { sessionId: 's-a', appid: 'wxa', openid: 'o_a', unionid: 'u_a' }]]);
  const calls = { getSession: 0, touchSession: 0 };
  const answer = (token: string) => {
    if (failure !== undefined) throw failure;
    const s = live.get(token);
    if (s === undefined) throw new ConnectError('no such session', Code.NotFound);
    return { session: { ...s, expiresAt: timestampFromMs(NOW + 3_600_000) } };
  };
  const peer = {
    getSession: async (r: { sessionToken: string }) => {
      calls.getSession++;
      return create(GetSessionResponseSchema, answer(r.sessionToken));
    },
    touchSession: async (r: { sessionToken: string }) => {
      calls.touchSession++;
      return create(TouchSessionResponseSchema, answer(r.sessionToken));
    },
    close: () => {},
  } as unknown as SessionLookup;
  return { peer, calls, revoke: (token: string) => live.delete(token) };
}

function warmCache() {
  const lookups: string[] = [];
  const metrics: VerifyCacheMetrics = {
    lookup: (result) => lookups.push(result),
    invalidated: () => {},
    storeRefused: () => {},
    feedHealthy: () => {},
  };
  const cache = createVerifyCache<VerifyAnswer>({ maxEntries: 10, ttlMs: 30_000, now: () => NOW });
  cache.feedFreshUntil(NOW + 60_000);
  return { cache, metrics, lookups };
}

test('a verified token is served from the cache afterwards; touch always reaches session', async () => {
  const session = sessionPeer();
  const warm = warmCache();
  const verify = createSessionVerifier({ session: session.peer, cache: warm });
  assert.equal((await verify('token-a', false)).openid, 'o_a');
  assert.equal((await verify('token-a', false)).openid, 'o_a');
  assert.deepEqual(session.calls, { getSession: 1, touchSession: 0 });
  assert.deepEqual(warm.lookups, ['miss', 'hit']);
  await verify('token-a', true);
  assert.deepEqual(session.calls, { getSession: 1, touchSession: 1 }, 'touch went to session');
});

test('an unknown token is Unauthenticated and never cached', async () => {
  const session = sessionPeer();
  const verify = createSessionVerifier({ session: session.peer, cache: warmCache() });
  for (let i = 0; i < 2; i++) {
    await assert.rejects(verify('token-b', false), (err: ConnectError) => err.code === Code.Unauthenticated);
  }
  assert.equal(session.calls.getSession, 2);
});

test('without a cache every verify asks session', async () => {
  const session = sessionPeer();
  const verify = createSessionVerifier({ session: session.peer });
  await verify('token-a', false);
  session.revoke('token-a');
  await assert.rejects(verify('token-a', false), (err: ConnectError) => err.code === Code.Unauthenticated);
});

test('the edge verifier: the identity for a live token, undefined for no live session, outages rethrown', async () => {
  const warm = warmCache();
  const ok = sessionPeer();
  const edge = edgeTokenVerifier(createSessionVerifier({ session: ok.peer, cache: warm }));
  const verified = await edge('token-a', signal);
  assert.deepEqual(verified && [verified.sessionId, verified.openid, verified.appid, verified.unionid], [
    's-a',
    'o_a',
    'wxa',
    'u_a',
  ]);
  assert.equal(verified?.expiresAt, NOW + 3_600_000, "the session's expiry, in epoch ms");
  await edge('token-a', signal);
  assert.deepEqual(ok.calls, { getSession: 1, touchSession: 0 }, 'the edge check never touches');
  assert.equal(await edge('token-b', signal), undefined);

  const down = sessionPeer(new ConnectError('session is down', Code.Unavailable));
  const edgeDown = edgeTokenVerifier(createSessionVerifier({ session: down.peer }));
  await assert.rejects(edgeDown('token-a', signal), (err: ConnectError) => err.code === Code.Unavailable);
});
