// Acceptance of the behaviour projector: real Kafka and Redis, projectors as their own processes,
// killed with SIGKILL and scaled while events flow; the read models must equal, key by key, a
// fresh rebuild from offset 0, and an independent model of the fold.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import type { BehaviourEvent } from '@wxmesh/contracts';
import {
  behaviourEvent,
  createEventProducer,
  DLQ_HEADERS,
  decodeBehaviourEvent,
  ensureBehaviourTopics,
  type EventProducer,
} from '@wxmesh/events';
import { asGatewayUser, asPeer, scaledTimeout, startInfra, waitFor, type Infra } from '@wxmesh/testing';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';
import { createReadModelStore } from '../src/adapters/read-models.js';
import {
  APPS,
  comparable,
  comparableExpected,
  dumpKeys,
  edgeClientOf,
  expectedJourneys,
  generateEvents,
  grpcClientOf,
  mapLimit,
  openidOf,
  RUN,
  runRebuild,
  setupFor,
  startProjector,
  type ExpectedJourney,
  type Projector,
  type Setup,
} from './support.js';

let infra: Infra<{ redis: true; kafka: true }>;
let redis: Redis;
let kafka: kafkajs.Kafka;
const running = new Set<Projector>();

before(async () => {
  infra = await startInfra({ redis: true, kafka: true });
  redis = new Redis(infra.redisUrl);
  kafka = new kafkajs.Kafka({
    clientId: `projector-test-${RUN}`,
    brokers: infra.kafkaBrokers.split(','),
    logLevel: kafkajs.logLevel.NOTHING,
  });
});

after(async () => {
  for (const p of running) if (p.process.child.exitCode === null) p.process.child.kill('SIGKILL');
  await redis?.quit();
  await infra?.stop();
});

async function start(setup: Setup): Promise<Projector> {
  const p = await startProjector(setup);
  running.add(p);
  return p;
}

async function kill(p: Projector, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
  p.process.child.kill(signal);
  const code = await p.process.exited;
  running.delete(p);
  if (signal === 'SIGTERM') assert.equal(code, 0, 'a projector stopped with SIGTERM exits 0');
}

const joined = (p: Projector) =>
  waitFor(() => p.process.logs.some((l) => l.msg === 'consumer joined group'), {
    // Part of a projector's start-up, so it scales with the machine's load.
    timeoutMs: scaledTimeout(30_000),
    message: 'projector joined its consumer group',
  });

async function producerFor(setup: Setup): Promise<EventProducer> {
  await ensureBehaviourTopics(kafka, { topic: setup.topic, dlqTopic: setup.dlqTopic, partitions: 6 });
  const producer = createEventProducer({ kafka, producer: 'test', topic: setup.topic });
  await producer.connect();
  return producer;
}

const activeGeneration = async (setup: Setup) => (await redis.hget(`${setup.prefix}generations`, 'active'))!;

/** The event_ids applied to each of `openids` in `generation`, read through the store. */
async function appliedIds(setup: Setup, generation: string, openids: readonly string[]): Promise<string[][]> {
  const store = createReadModelStore(redis, { prefix: setup.prefix, newGeneration: () => generation });
  return mapLimit(openids, 32, (o) => store.appliedEventIds(generation, o));
}

/** How many distinct events `openids` have applied in `generation`. */
async function appliedCount(setup: Setup, generation: string, openids: readonly string[]): Promise<number> {
  return (await appliedIds(setup, generation, openids)).reduce((n, ids) => n + ids.length, 0);
}

async function assertJourneys(client: Projector['client'], expected: Map<string, ExpectedJourney>) {
  const mismatches: string[] = [];
  await mapLimit([...expected.values()], 32, async (want) => {
    const { journey } = await client.getUserJourney({ openid: want.openid });
    try {
      assert.deepEqual(comparable(journey!), comparableExpected(want));
    } catch (err) {
      mismatches.push(`${want.openid}: ${(err as Error).message.slice(0, 600)}`);
    }
  });
  assert.deepEqual(mismatches.slice(0, 3), [], `${mismatches.length} journeys differ from the model`);
}

async function assertAppliedSets(setup: Setup, generation: string, expected: Map<string, ExpectedJourney>) {
  const openids = [...expected.keys()];
  const applied = await appliedIds(setup, generation, openids);
  openids.forEach((o, i) => {
    assert.deepEqual(
      [...applied[i]!].sort(),
      [...expected.get(o)!.eventIds].sort(),
      `${o}: exactly its distinct events applied, none missing, none extra`,
    );
  });
}

function expectedFunnel(distinct: readonly BehaviourEvent[]) {
  const steps: Record<string, 'loggedIn' | 'phoneBound' | 'ordered' | 'paid'> = {
    userLoggedIn: 'loggedIn',
    phoneNumberBound: 'phoneBound',
    orderCreated: 'ordered',
    paymentSucceeded: 'paid',
  };
  const sets = new Map<string, Set<string>>();
  for (const e of distinct) {
    const step = steps[e.payload.case!];
    if (step === undefined) continue;
    const day = new Date(timestampMs(e.occurredAt!) + 8 * 3600_000).toISOString().slice(0, 10);
    const key = `${e.wechat!.appid}|${day}|${step}`;
    if (!sets.has(key)) sets.set(key, new Set());
    sets.get(key)!.add(e.wechat!.openid);
  }
  return (appid: string, day: string, step: string) => sets.get(`${appid}|${day}|${step}`)?.size ?? 0;
}

describe('100,000 events, 5,000 users, 5 SIGKILLs, group scaled 1 → 3 → 1', () => {
  const setup = () => setupFor(infra, 'a');
  let s: Setup;
  let final: Projector;
  let expected: Map<string, ExpectedJourney>;
  let distinct: BehaviourEvent[];
  const poisonId = `${RUN}-poison`;

  test('read models equal the model of the fold and a fresh rebuild from offset 0, key by key', async () => {
    s = setup();
    const generated = generateEvents({ tag: 'a', users: 5000, perUser: 19, dupEvery: 19, seed: 42 });
    distinct = generated.distinct;
    const records = [...generated.records];
    // A poison event among them: valid on the wire, but a negative amount cannot be folded.
    const poison = behaviourEvent({
      eventId: poisonId,
      aggregateId: 'payment:poison',
      occurredAt: Date.UTC(2025, 4, 2),
      producer: 'test',
      wechat: { openid: openidOf('a', 0), appid: APPS[0] },
      payload: { case: 'paymentSucceeded', value: { outTradeNo: 'poison', payerTotal: -1 } },
    });
    records.splice(30_000, 0, poison);
    assert.equal(records.length, 100_001);
    expected = expectedJourneys(distinct);
    assert.equal(expected.size, 5000);

    const producer = await producerFor(s);
    let p1 = await start(s);
    const fleet: Projector[] = [p1];
    let kills = 0;
    // Chaos, keyed by how many records have been produced (in thousands).
    const chaos: Record<number, () => Promise<void>> = {
      10: async () => {
        await joined(p1);
        await kill(p1, 'SIGKILL');
        kills++;
        p1 = await start(s);
        fleet[0] = p1;
      },
      25: async () => {
        fleet.push(await start(s), await start(s)); // 1 → 3
      },
      40: async () => {
        await kill(fleet[1]!, 'SIGKILL');
        kills++;
        fleet[1] = await start(s);
      },
      55: async () => {
        await kill(fleet[2]!, 'SIGKILL');
        kills++;
        fleet[2] = await start(s);
      },
      70: async () => {
        await joined(fleet[0]!);
        await kill(fleet[0]!, 'SIGKILL');
        kills++;
        fleet[0] = await start(s);
      },
      85: async () => {
        await Promise.all([kill(fleet[1]!, 'SIGTERM'), kill(fleet[2]!, 'SIGTERM')]); // 3 → 1
        fleet.length = 1;
      },
    };
    for (let i = 0; i < records.length; i += 1000) {
      await producer.emit(...records.slice(i, i + 1000));
      await chaos[(i + 1000) / 1000]?.();
    }
    await producer.disconnect();
    // The last one dies too, right after the last record, and a new one finishes the job.
    await kill(fleet[0]!, 'SIGKILL');
    kills++;
    final = await start(s);
    assert.equal(kills, 5);

    const generation = await activeGeneration(s);
    await waitFor(async () => (await appliedCount(s, generation, [...expected.keys()])) === distinct.length, {
      timeoutMs: 90_000,
      intervalMs: 250,
      message: `all ${distinct.length} distinct events applied`,
    });
    await assertAppliedSets(s, generation, expected);
    await assertJourneys(final.client, expected);

    const funnelCount = expectedFunnel(distinct);
    for (const appid of APPS) {
      const { days } = await final.client.getFunnel({
        appid,
        startDate: '2025-04-30',
        endDate: '2025-05-06',
      });
      assert.equal(days.length, 7);
      for (const d of days) {
        assert.deepEqual(
          { loggedIn: d.loggedIn, phoneBound: d.phoneBound, ordered: d.ordered, paid: d.paid },
          {
            loggedIn: funnelCount(appid, d.date, 'loggedIn'),
            phoneBound: funnelCount(appid, d.date, 'phoneBound'),
            ordered: funnelCount(appid, d.date, 'ordered'),
            paid: funnelCount(appid, d.date, 'paid'),
          },
          `${appid} ${d.date}`,
        );
      }
    }

    // A fresh rebuild from offset 0 into an empty prefix, left beside the live generation.
    const rebuilt = await runRebuild(s, ['--no-swap', '--generation', `check${RUN}`]);
    assert.equal(rebuilt.swapped, false);
    const live = await dumpKeys(redis, `${s.prefix}${generation}:`);
    const fresh = await dumpKeys(redis, `${s.prefix}check${RUN}:`);
    assert.ok(
      live.size > expected.size,
      `the live generation holds a journey per user and the funnel sets (${live.size} keys)`,
    );
    assert.deepEqual([...live.keys()].sort(), [...fresh.keys()].sort(), 'same keys');
    const differing = [...live].filter(([k, v]) => {
      try {
        assert.deepEqual(fresh.get(k), v);
        return false;
      } catch {
        return true;
      }
    });
    assert.deepEqual(differing.slice(0, 3), [], `${differing.length} keys differ from the rebuild`);
    assert.equal(
      await activeGeneration(s),
      generation,
      'a rebuild without swap leaves the active generation',
    );
    await redis.hdel(`${s.prefix}generations`, 'shadow'); // none is left, but be sure for the next test
  });

  test('the poison event is dead-lettered with its error, and its partition moved on', async () => {
    const consumer = kafka.consumer({ groupId: `projector-test-dlq-${RUN}` });
    const letters: kafkajs.KafkaMessage[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: s.dlqTopic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void letters.push(message) });
    try {
      await waitFor(() => letters.length >= 1, { timeoutMs: 30_000, message: 'a dead letter' });
      for (const letter of letters) {
        assert.equal(decodeBehaviourEvent(letter.value!).eventId, poisonId, 'only the poison event');
        assert.equal(letter.headers![DLQ_HEADERS.reason]!.toString(), 'apply_failed');
        assert.match(
          letter.headers![DLQ_HEADERS.error]!.toString(),
          /payer_total must be a non-negative amount/,
        );
        assert.equal(letter.headers![DLQ_HEADERS.attempts]!.toString(), '3');
        assert.equal(letter.headers!['event-type']!.toString(), 'wxmesh.behaviour.v1.PaymentSucceeded');
      }
      // Its user's events after it, on the same partition, were all applied (checked above too).
      const { journey } = await final.client.getUserJourney({ openid: openidOf('a', 0) });
      assert.deepEqual(comparable(journey!), comparableExpected(expected.get(openidOf('a', 0))!));
    } finally {
      await consumer.disconnect();
    }
  });

  test('rebuild-and-swap under live traffic: GetUserJourney answers throughout, nothing lost', async () => {
    const before = await activeGeneration(s);
    const more = generateEvents({ tag: 'b', users: 500, perUser: 30, dupEvery: 10, seed: 7 });
    const watched = [...expected.values()].slice(0, 20).map((j) => j.openid);
    watched.push(...Array.from({ length: 20 }, (_, u) => openidOf('b', u)));
    const seen = new Map<string, number>();
    let reads = 0;
    let stop = false;
    const failures: unknown[] = [];
    // Readers: every watched journey, again and again; its total activity must never go down.
    const readers = mapLimit([0, 1, 2, 3], 4, async (r) => {
      for (let i = r; !stop; i++) {
        const openid = watched[i % watched.length]!;
        try {
          const { journey } = await final.client.getUserJourney({ openid });
          const j = journey!;
          const total =
            j.loginCount +
            j.sessionsStarted +
            j.sessionsEnded +
            j.messagesReceived +
            j.ordersCreated +
            j.refunds;
          if (total < (seen.get(openid) ?? 0))
            failures.push(new Error(`${openid} went back from ${seen.get(openid)} to ${total}`));
          seen.set(openid, total);
          reads++;
        } catch (err) {
          failures.push(err);
        }
      }
    });
    const producer = await producerFor(s);
    const traffic = (async () => {
      for (let i = 0; i < more.records.length; i += 250)
        await producer.emit(...more.records.slice(i, i + 250));
    })();
    const rebuilt = await runRebuild(s, ['--drop-after', '1s']);
    await traffic;
    await producer.disconnect();

    const all = expectedJourneys([...distinct, ...more.distinct]);
    const generation = await activeGeneration(s);
    assert.equal(rebuilt.swapped, true);
    assert.equal(rebuilt.previous, before);
    assert.equal(generation, rebuilt.generation, 'the rebuilt generation is active');
    await waitFor(
      async () =>
        (await appliedCount(s, generation, [...all.keys()])) === distinct.length + more.distinct.length,
      {
        timeoutMs: 60_000,
        intervalMs: 250,
        message: 'every event, old and new, in the swapped-in generation',
      },
    );
    stop = true;
    await readers;
    assert.deepEqual(failures.slice(0, 3), [], 'every read answered, and no journey went back');
    assert.ok(reads > 100, `GetUserJourney kept answering during the rebuild (${reads} reads)`);
    await assertAppliedSets(s, generation, all);
    await assertJourneys(final.client, all);
    assert.equal(
      (await dumpKeys(redis, `${s.prefix}${before}:`)).size,
      0,
      'the replaced generation was dropped',
    );
  });

  test('bad input: unknown user is an empty journey; malformed requests are InvalidArgument', async () => {
    const { journey } = await final.client.getUserJourney({ openid: 'o_never_seen_anywhere' });
    assert.equal(journey!.openid, 'o_never_seen_anywhere');
    assert.equal(journey!.loginCount, 0);
    assert.equal(journey!.firstSeenAt, undefined);
    assert.equal(journey!.lastEvent, undefined);
    const code = async (call: Promise<unknown>) => {
      try {
        await call;
        return 'OK';
      } catch (err) {
        return Code[ConnectError.from(err).code];
      }
    };
    const c = final.client;
    assert.equal(
      await code(c.getUserJourney({ openid: '' })),
      'InvalidArgument',
      'an operator names the user',
    );
    assert.equal(await code(c.getUserJourney({ openid: 'not an openid!' })), 'InvalidArgument');
    assert.equal(await code(c.getUserJourney({ openid: 'x'.repeat(129) })), 'InvalidArgument');
    const funnel = (appid: string, startDate: string, endDate: string) =>
      code(c.getFunnel({ appid, startDate, endDate }));
    assert.equal(await funnel('wx00000000000000a1', '2025-05-01', '2025-05-01'), 'OK');
    assert.equal(await funnel('not-an-appid', '2025-05-01', '2025-05-02'), 'InvalidArgument');
    assert.equal(await funnel('wx00000000000000a1', '2025-05-02', '2025-05-01'), 'InvalidArgument');
    assert.equal(await funnel('wx00000000000000a1', '2025-1-01', '2025-01-02'), 'InvalidArgument');
    assert.equal(await funnel('wx00000000000000a1', '2025-02-30', '2025-03-01'), 'InvalidArgument');
    assert.equal(await funnel('wx00000000000000a1', '2024-01-01', '2025-05-01'), 'InvalidArgument');
    // A month the contract's loose pattern lets through to a CEL timestamp() that fails: the kit
    // reports the rule's evaluation failure as InvalidArgument, not Internal.
    assert.equal(await funnel('wx00000000000000a1', '2025-13-01', '2025-13-02'), 'InvalidArgument');
    const empty = await c.getFunnel({
      appid: 'wx00000000000000ff',
      startDate: '2025-05-01',
      endDate: '2025-05-03',
    });
    assert.deepEqual(
      empty.days.map((d) => [d.date, d.loggedIn, d.phoneBound, d.ordered, d.paid]),
      [
        ['2025-05-01', 0, 0, 0, 0],
        ['2025-05-02', 0, 0, 0, 0],
        ['2025-05-03', 0, 0, 0, 0],
      ],
    );
  });
});

describe('callers: a user reads their own journey at the edge; the funnel is for operators', () => {
  let s: Setup;
  let p: Projector;
  const me = openidOf('c', 0);
  const other = openidOf('c', 1);
  const code = async (call: Promise<unknown>) => {
    try {
      await call;
      return 'OK';
    } catch (err) {
      return Code[ConnectError.from(err).code];
    }
  };

  before(async () => {
    s = setupFor(infra, 'c');
    const producer = await producerFor(s);
    p = await start(s);
    await producer.emit(
      ...[me, other].map((openid, i) =>
        behaviourEvent({
          eventId: `${RUN}-c-login-${i}`,
          aggregateId: `user:${openid}`,
          occurredAt: Date.UTC(2025, 4, 1),
          producer: 'test',
          wechat: { openid, appid: APPS[0] },
          payload: { case: 'userLoggedIn', value: { sessionId: `s${i}` } },
        }),
      ),
    );
    await producer.disconnect();
    await waitFor(
      async () =>
        (await Promise.all([me, other].map((openid) => p.client.getUserJourney({ openid })))).every(
          (r) => r.journey!.loginCount === 1,
        ),
      { timeoutMs: 30_000, message: 'both users’ logins were folded' },
    );
  });

  test('GetUserJourney at the edge: the caller’s own journey, another user’s is PermissionDenied', async () => {
    const asMe = edgeClientOf(p.process, asGatewayUser({ openid: me, appid: APPS[0] }));
    const mine = await asMe.getUserJourney({ openid: '' });
    assert.equal(mine.journey!.openid, me, 'an empty openid is the caller');
    assert.equal(mine.journey!.loginCount, 1);
    assert.equal((await asMe.getUserJourney({ openid: me })).journey!.lastEvent!.eventId, `${RUN}-c-login-0`);
    await assert.rejects(
      asMe.getUserJourney({ openid: other }),
      (err: ConnectError) =>
        err.code === Code.PermissionDenied && /openid names another user/.test(err.rawMessage),
    );
    assert.equal(await code(edgeClientOf(p.process).getUserJourney({ openid: me })), 'Unauthenticated');
    assert.equal(await code(grpcClientOf(p.process).getUserJourney({ openid: me })), 'Unauthenticated');
    assert.equal(
      await code(grpcClientOf(p.process, asPeer('session')).getUserJourney({ openid: me })),
      'PermissionDenied',
      'a mesh peer that is not the operator',
    );
    assert.equal((await p.client.getUserJourney({ openid: other })).journey!.openid, other, 'the operator');
  });

  test('GetFunnel: absent from the http port, on grpc for the operator only', async () => {
    const request = { appid: APPS[0], startDate: '2025-05-01', endDate: '2025-05-01' };
    const rpc = (method: string) =>
      fetch(`${p.process.httpUrl}/wxmesh.behaviour.v1.BehaviourViewService/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-wx-openid': me, 'x-wx-appid': APPS[0] },
        body: JSON.stringify(request),
      });
    const res = await rpc('GetFunnel');
    assert.equal(res.status, 404);
    assert.equal(res.status, (await rpc('NoSuchMethod')).status, 'exactly like an unknown method');
    const asMe = edgeClientOf(p.process, asGatewayUser({ openid: me, appid: APPS[0] }));
    assert.equal(await code(asMe.getFunnel(request)), 'NotFound');
    assert.equal(await code(grpcClientOf(p.process).getFunnel(request)), 'Unauthenticated');
    assert.equal(
      await code(grpcClientOf(p.process, asPeer('payment-callback', { openid: me })).getFunnel(request)),
      'PermissionDenied',
    );
    const { days } = await p.client.getFunnel(request);
    assert.deepEqual(
      days.map((d) => [d.date, d.loggedIn]),
      [['2025-05-01', 2]],
    );
  });
});
