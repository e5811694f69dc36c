// The session lifecycle against real Redis and Kafka, with a controllable clock: sliding and
// absolute expiry, the per-user cap and revocation under concurrency, and events that survive a
// Kafka outage.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { SessionEndReason, type BehaviourEvent } from '@wxmesh/contracts';
import { connectEventProducer, createEventProducer, type EventProducer } from '@wxmesh/events';
import { createLogger } from '@wxmesh/rpc';
import { type Infra, startInfra, testKafka, waitFor } from '@wxmesh/testing';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';
import { APPID, collectEvents, openidOf } from '../../test/support.js';
import { createEventSink, type EventSink } from '../adapters/event-sink.js';
import { createSessionStore, type SessionStore } from '../adapters/session-store.js';
import type { SessionPolicy } from '../domain/session-record.js';
import { createSessions } from './sessions.js';

const MINUTE = 60_000;
const POLICY: SessionPolicy = {
  idleTtlMs: 10 * MINUTE,
  maxAgeMs: 30 * MINUTE,
  maxPerUser: 3,
  attributesMaxBytes: 256,
};
const LEASE_MS = 5_000;
// Warnings (an emit Kafka did not acknowledge) show in the test output.
const logger = createLogger({ name: 'session-manager-test', level: 'warn' });

let infra: Infra<{ redis: true; kafka: true }>;
let redis: Redis;
let producer: EventProducer;
let topic: Awaited<ReturnType<typeof collectEvents>>;
let clock = Date.now();
const now = () => clock;
const ended: Array<{ openid: string; sessionId: string }> = [];

function manager(
  events: EventSink = createEventSink(producer, logger),
  store: SessionStore = createSessionStore(redis, { retentionMs: 60 * MINUTE }),
) {
  return createSessions({
    store,
    events,
    policy: POLICY,
    now,
    random: randomBytes,
    eventLeaseMs: LEASE_MS,
    onSessionEnded: async (openid, sessionId) => {
      ended.push({ openid, sessionId });
    },
    logger,
  });
}

before(async () => {
  infra = await startInfra({ redis: true, kafka: true });
  // A database of its own: the sweeper here runs on a fake clock and must not touch other tests' sessions.
  redis = new Redis(infra.redisUrl, { db: 7, enableAutoPipelining: true });
  await redis.flushdb();
  const kafka = testKafka(infra.kafkaBrokers, 'session-manager-test');
  producer = await connectEventProducer({ kafka, producer: 'session', createTopics: true });
  topic = await collectEvents(infra.kafkaBrokers);
});

after(async () => {
  await topic?.stop();
  await producer?.disconnect();
  redis?.disconnect();
  await infra?.stop();
});

const eventsOf = (openid: string, kind: BehaviourEvent['payload']['case']) =>
  topic.events.filter((e) => e.wechat?.openid === openid && e.payload.case === kind);

async function notFound(p: Promise<unknown>) {
  await assert.rejects(
    p,
    (err: ConnectError) => err.code === Code.NotFound && /log in again/.test(err.rawMessage),
  );
}

test('sliding idle expiry, capped by the absolute max age', async () => {
  const sessions = manager();
  const openid = openidOf('sliding');
  const t0 = clock;
  const { token, session } = await sessions.create({
    appid: APPID,
    openid,
    unionid: '',
    attributes: { device: 'ios' },
  });
  assert.equal(session.record.expiresAt, t0 + 10 * MINUTE);
  assert.equal(session.record.maxExpiresAt, t0 + 30 * MINUTE);

  clock = t0 + 9 * MINUTE;
  assert.equal(
    (await sessions.resolve(token)).sessionId,
    session.sessionId,
    'alive just before the idle expiry',
  );
  assert.deepEqual((await sessions.resolve(token)).record.attributes, { device: 'ios' });
  const touched = await sessions.touch(token);
  assert.equal(touched.record.expiresAt, t0 + 19 * MINUTE, 'touch slides the idle expiry');
  assert.equal(touched.record.lastActiveAt, clock);

  clock = t0 + 18 * MINUTE;
  await sessions.touch(token);
  clock = t0 + 27 * MINUTE;
  const late = await sessions.touch(token);
  assert.equal(late.record.expiresAt, t0 + 30 * MINUTE, 'never past the max age');
  clock = t0 + 30 * MINUTE;
  await notFound(sessions.resolve(token));
  await notFound(sessions.touch(token));

  // Left untouched, a session dies at its idle expiry.
  const idle = await sessions.create({ appid: APPID, openid: openidOf('idle'), unionid: '', attributes: {} });
  clock += 10 * MINUTE;
  await notFound(sessions.resolve(idle.token));
});

test('expiry is reported once by the sweeper and the session is cleared', async () => {
  const sessions = manager();
  const openid = openidOf('expires');
  const { session } = await sessions.create({ appid: APPID, openid, unionid: '', attributes: {} });
  clock += 10 * MINUTE + 1;
  await sessions.sweep();
  await sessions.sweep();
  await waitFor(() => eventsOf(openid, 'sessionEnded').length > 0, {
    timeoutMs: 15_000,
    message: 'SessionEnded on the topic',
  });
  const [endedEvent, ...more] = eventsOf(openid, 'sessionEnded');
  assert.equal(more.length, 0, 'reported once');
  assert.equal(
    endedEvent!.payload.case === 'sessionEnded' && endedEvent!.payload.value.reason,
    SessionEndReason.EXPIRY,
  );
  assert.equal(endedEvent!.eventId, `session:${session.sessionId}:ended`);
  assert.deepEqual(await redis.hkeys(`wxm:session:{${openid}}:sessions`), [], 'nothing left of the session');
  assert.ok(
    ended.some((e) => e.sessionId === session.sessionId),
    'its live channels were told to close',
  );
});

test('per-user cap under concurrent logins: oldest evicted, each eviction reported once', async () => {
  const sessions = manager();
  const openid = openidOf('cap');
  const created = await Promise.all(
    Array.from({ length: 12 }, () => sessions.create({ appid: APPID, openid, unionid: '', attributes: {} })),
  );
  const live = await sessions.list(openid);
  assert.equal(live.length, POLICY.maxPerUser);
  const evicted = created.flatMap((c) => c.evicted);
  assert.equal(
    new Set(evicted).size,
    12 - POLICY.maxPerUser,
    'every session beyond the cap evicted exactly once',
  );
  const liveIds = new Set(live.map((s) => s.sessionId));
  for (const id of evicted) assert.ok(!liveIds.has(id));
  for (const c of created) {
    if (evicted.includes(c.session.sessionId)) await notFound(sessions.resolve(c.token));
    else assert.equal((await sessions.resolve(c.token)).sessionId, c.session.sessionId);
  }
  // Anything the normal path could not get acknowledged is owed, and the sweeper emits it once
  // its lease runs out: the contract is "eventually, exactly these ids", not "before the reply".
  clock += LEASE_MS + 1;
  await sessions.sweep();
  await waitFor(
    () =>
      eventsOf(openid, 'sessionEnded').length >= evicted.length &&
      eventsOf(openid, 'sessionStarted').length >= 12,
    {
      timeoutMs: 30_000,
      message: 'SessionStarted x12 and SessionEnded per eviction',
    },
  );
  const endedIds = eventsOf(openid, 'sessionEnded').map(
    (e) => e.payload.case === 'sessionEnded' && e.payload.value.sessionId,
  );
  assert.deepEqual([...endedIds].sort(), [...evicted].sort());
  for (const e of eventsOf(openid, 'sessionEnded'))
    assert.equal(e.payload.case === 'sessionEnded' && e.payload.value.reason, SessionEndReason.EVICTION);
});

test('a session evicted while its own SessionStarted is in flight still gets its SessionEnded', async () => {
  // The interleaving concurrent logins can produce, made deterministic: the first session's
  // create is held at its emit; a fourth login evicts it; the held create then finishes (emit,
  // settle) between the eviction's state change and the eviction reading the tombstone back.
  const sink = createEventSink(producer, logger);
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let heldId: string | undefined;
  const events: EventSink = {
    async emit(...batch) {
      if (heldId === undefined) {
        const first = batch[0]!.payload;
        heldId = first.case === 'sessionStarted' ? first.value.sessionId : '';
        await held;
      }
      return sink.emit(...batch);
    },
  };
  const base = createSessionStore(redis, { retentionMs: 60 * MINUTE });
  let firstDone!: () => void;
  const firstFinished = new Promise<void>((resolve) => (firstDone = resolve));
  const store: SessionStore = {
    ...base,
    async create(...args) {
      const evicted = await base.create(...args);
      if (evicted.some((e) => e.sessionId === heldId)) {
        release();
        await firstFinished;
      }
      return evicted;
    },
  };
  const sessions = manager(events, store);
  const openid = openidOf('evicted-in-flight');
  const login = () => sessions.create({ appid: APPID, openid, unionid: '', attributes: {} });
  const firstCreate = login().finally(firstDone);
  await waitFor(() => heldId !== undefined, {
    timeoutMs: 5_000,
    message: 'the first create reached its emit',
  });
  // Later logins are strictly younger, so the held one is the oldest and the one evicted.
  for (let i = 0; i < POLICY.maxPerUser; i++) {
    clock += 1;
    await login();
  }
  await firstCreate;

  // No sweep: the normal path alone must report the eviction.
  await waitFor(() => eventsOf(openid, 'sessionEnded').length > 0, {
    timeoutMs: 15_000,
    message: 'SessionEnded for the evicted session',
  });
  const [endedEvent] = eventsOf(openid, 'sessionEnded');
  assert.equal(endedEvent!.eventId, `session:${heldId}:ended`);
  assert.equal(
    endedEvent!.payload.case === 'sessionEnded' && endedEvent!.payload.value.reason,
    SessionEndReason.EVICTION,
  );
  assert.equal(await redis.hget(`wxm:session:{${openid}}:sessions`, heldId!), null, 'tombstone settled');
});

test('revocation under concurrency: one winner, effective at once, reported once', async () => {
  const sessions = manager();
  const openid = openidOf('revoke');
  const { token, session } = await sessions.create({ appid: APPID, openid, unionid: '', attributes: {} });
  const results = await Promise.all([
    ...Array.from({ length: 8 }, () => sessions.revokeByToken(token, 'logout')),
    ...Array.from({ length: 8 }, () =>
      sessions.touch(token).then(
        () => 'touched',
        () => 'refused',
      ),
    ),
  ]);
  assert.equal(results.slice(0, 8).filter((r) => r === true).length, 1, 'exactly one revoke ended it');
  await notFound(sessions.resolve(token));
  await notFound(sessions.touch(token));
  assert.equal(await sessions.revokeById(openid, session.sessionId, 'revocation'), false, 'idempotent');
  await waitFor(() => eventsOf(openid, 'sessionEnded').length > 0, {
    timeoutMs: 15_000,
    message: 'SessionEnded(LOGOUT)',
  });
  const endedEvents = eventsOf(openid, 'sessionEnded');
  assert.equal(endedEvents.length, 1);
  assert.equal(
    endedEvents[0]!.payload.case === 'sessionEnded' && endedEvents[0]!.payload.value.reason,
    SessionEndReason.LOGOUT,
  );
});

test('a token with the right user and id but the wrong secret is refused', async () => {
  const sessions = manager();
  const { token } = await sessions.create({
    appid: APPID,
    openid: openidOf('forge'),
    unionid: '',
    attributes: {},
  });
  const [openid, sid, secret] = token.split('.') as [string, string, string];
  const forged = `${openid}.${sid}.${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
  await notFound(sessions.resolve(forged));
  await notFound(sessions.touch(forged));
  assert.equal(await sessions.revokeByToken(forged, 'logout'), false);
  assert.ok(await sessions.resolve(token), 'the real token still works');
});

test('oversized attributes are refused with InvalidArgument and nothing is stored', async () => {
  const sessions = manager();
  const openid = openidOf('fat');
  await assert.rejects(
    sessions.create({ appid: APPID, openid, unionid: '', attributes: { blob: 'x'.repeat(300) } }),
    (err: ConnectError) =>
      err.code === Code.InvalidArgument && /304 bytes .* over the 256-byte limit/.test(err.rawMessage),
  );
  assert.deepEqual(await sessions.list(openid), []);
});

test('a call past its deadline creates, slides and ends nothing', async () => {
  const openid = openidOf('deadline');
  const deadline = new AbortController();
  const reason = new ConnectError('deadline exceeded', Code.DeadlineExceeded);
  const base = createSessionStore(redis, { retentionMs: 60 * MINUTE });
  // The deadline passes while create writes its lease: the session itself must not follow.
  const store: SessionStore = {
    ...base,
    async schedule(...args) {
      await base.schedule(...args);
      deadline.abort(reason);
    },
  };
  const late = manager(undefined, store);
  await assert.rejects(
    late.create({ appid: APPID, openid, unionid: '', attributes: {} }, deadline.signal),
    (err: unknown) => err === reason,
  );
  assert.deepEqual(await late.list(openid), [], 'no session was created');

  const { token, session } = await manager().create({ appid: APPID, openid, unionid: '', attributes: {} });
  clock += MINUTE;
  await assert.rejects(late.touch(token, deadline.signal), (err: unknown) => err === reason);
  assert.equal(
    (await late.resolve(token)).record.expiresAt,
    session.record.expiresAt,
    'the idle expiry did not slide',
  );
  await assert.rejects(
    late.revokeByToken(token, 'logout', deadline.signal),
    (err: unknown) => err === reason,
  );
  await assert.rejects(
    late.revokeById(openid, session.sessionId, 'revocation', deadline.signal),
    (err: unknown) => err === reason,
  );
  assert.equal((await late.resolve(token)).sessionId, session.sessionId, 'still live');
  // The lease the cut-short create left behind is cleared by the sweeper without an event.
  clock += LEASE_MS + 1;
  await late.sweep();
  assert.deepEqual(
    (await late.list(openid)).map((s) => s.sessionId),
    [session.sessionId],
  );
});

test('events owed when Kafka was down are emitted by the sweeper, same ids, nothing lost', async () => {
  const down = createEventProducer({
    kafka: new kafkajs.Kafka({
      clientId: 'down',
      brokers: ['127.0.0.1:1'],
      retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 100 },
      connectionTimeout: 200,
      logLevel: kafkajs.logLevel.NOTHING,
    }),
    producer: 'session',
  });
  const offline = manager(createEventSink(down, logger));
  const openid = openidOf('outage');
  const first = await offline.create({ appid: APPID, openid, unionid: '', attributes: {} });
  assert.equal(
    await offline.revokeByToken(first.token, 'logout'),
    true,
    'the state change does not wait for Kafka',
  );
  const second = await offline.create({ appid: APPID, openid, unionid: '', attributes: {} });
  await notFound(offline.resolve(first.token));
  assert.ok(await offline.resolve(second.token));

  const healthy = manager();
  assert.equal(await healthy.sweep(), 0, 'nothing is due before the lease runs out');
  clock += LEASE_MS + 1;
  await healthy.sweep();
  await waitFor(
    () => eventsOf(openid, 'sessionStarted').length === 2 && eventsOf(openid, 'sessionEnded').length === 1,
    { timeoutMs: 15_000, message: 'both SessionStarted and the SessionEnded reached Kafka' },
  );
  assert.deepEqual(
    eventsOf(openid, 'sessionStarted')
      .map((e) => e.eventId)
      .sort(),
    [`session:${first.session.sessionId}:started`, `session:${second.session.sessionId}:started`].sort(),
  );
  assert.equal(eventsOf(openid, 'sessionEnded')[0]!.eventId, `session:${first.session.sessionId}:ended`);
  await healthy.sweep();
  assert.equal(eventsOf(openid, 'sessionStarted').length, 2, 'settled: not emitted again');
});
