// docs/examples/print-behaviour-events.ts, the consumer docs/events.md gives teams outside the
// mesh, run as they would run it (a child process with KAFKA_BROKERS) against a real broker and
// events written by the real producer the services emit with: it prints each event in order, stops
// at --max or after --idle-ms, starts at the end of the topic without --from-beginning, and names
// a payload kind from a newer schema instead of failing on it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { BehaviourEventSchema, SessionEndReason, WeChatContextSchema } from '@wxmesh/contracts';
import {
  behaviourEvent,
  createEventProducer,
  ensureBehaviourTopics,
  type BehaviourEventInit,
  type EventProducer,
} from '@wxmesh/events';
import { onExitCleanup, scaledTimeout, startInfra, waitFor, type Infra } from '@wxmesh/testing';
import kafkajs, { type Kafka } from 'kafkajs';
import { Registry } from 'prom-client';

const root = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE = 'docs/examples/print-behaviour-events.ts';
const TOPIC = `wxmesh.behaviour.v1.example-${randomUUID()}`;
const OPENID = `oExample_${randomBytes(6).toString('hex')}`;
const APPID = 'wx5c1a7e3b9d2f4a60';
const SESSION = `s-${randomBytes(4).toString('hex')}`;
const AT = Date.parse('2026-12-07T08:00:00Z');

/** What each service emits for one user's login, purchase and logout, in emission order. */
const EVENTS: (BehaviourEventInit & { line: string })[] = [
  {
    eventId: `login:${SESSION}`,
    aggregateId: `user:${OPENID}`,
    occurredAt: AT,
    producer: 'auth-verify',
    wechat: { openid: OPENID, appid: APPID },
    payload: { case: 'userLoggedIn', value: { sessionId: SESSION } },
    line: `2026-12-07T08:00:00Z UserLoggedIn openid=${OPENID} id=login:${SESSION} {"sessionId":"${SESSION}"}`,
  },
  {
    eventId: `session:${SESSION}:started`,
    aggregateId: `session:${SESSION}`,
    occurredAt: AT + 1,
    producer: 'session',
    wechat: { openid: OPENID, appid: APPID },
    payload: {
      case: 'sessionStarted',
      value: { sessionId: SESSION, maxExpiresAt: timestampFromMs(AT + 86_400_000) },
    },
    line:
      `2026-12-07T08:00:00.001Z SessionStarted openid=${OPENID} id=session:${SESSION}:started ` +
      `{"sessionId":"${SESSION}","maxExpiresAt":"2026-12-08T08:00:00Z"}`,
  },
  {
    eventId: 'payment:T1001:created',
    aggregateId: 'payment:T1001',
    occurredAt: AT + 60_000,
    producer: 'payment-callback',
    wechat: { openid: OPENID, appid: APPID },
    payload: { case: 'orderCreated', value: { outTradeNo: 'T1001', amountTotal: 990, currency: 'CNY' } },
    line:
      `2026-12-07T08:01:00Z OrderCreated openid=${OPENID} id=payment:T1001:created ` +
      `{"outTradeNo":"T1001","amountTotal":990,"currency":"CNY"}`,
  },
  {
    eventId: `session:${SESSION}:ended`,
    aggregateId: `session:${SESSION}`,
    occurredAt: AT + 120_000,
    producer: 'session',
    wechat: { openid: OPENID, appid: APPID },
    payload: { case: 'sessionEnded', value: { sessionId: SESSION, reason: SessionEndReason.LOGOUT } },
    line:
      `2026-12-07T08:02:00Z SessionEnded openid=${OPENID} id=session:${SESSION}:ended ` +
      `{"sessionId":"${SESSION}","reason":"SESSION_END_REASON_LOGOUT"}`,
  },
];
const LINES = EVENTS.map((e) => e.line);
/** A record from a newer producer: a payload field (number 99) this build does not know. */
const FUTURE_LINE = `2026-12-07T08:03:00Z FutureThing (unknown here) openid=${OPENID} id=future:1 {}`;

const SERVICES = ['auth-verify', 'session', 'payment-callback'] as const;

let infra: Infra<{ redis: false; kafka: true }>;
let kafka: Kafka;
const producers = new Map<string, EventProducer>();

before(async () => {
  infra = await startInfra({ redis: false, kafka: true });
  kafka = new kafkajs.Kafka({
    clientId: 'print-behaviour-events-spec',
    brokers: infra.kafkaBrokers.split(','),
    logLevel: kafkajs.logLevel.NOTHING,
  });
  // Its own topic: under `npm test` the broker is shared with suites that emit to the real one.
  await ensureBehaviourTopics(kafka, { topic: TOPIC, dlqTopic: `${TOPIC}.dlq`, partitions: 3 });
  // One producer per emitting service, as each service has its own.
  const registry = new Registry();
  for (const service of SERVICES) {
    const producer = createEventProducer({ kafka, producer: service, topic: TOPIC, registry });
    producers.set(service, producer);
    await producer.connect();
  }
  for (const { line: _line, ...init } of EVENTS)
    await producers.get(init.producer)!.emit(behaviourEvent(init));
  await sendFutureRecord();
});

after(async () => {
  for (const producer of producers.values()) await producer.disconnect().catch(() => undefined);
  const admin = kafka?.admin();
  if (admin !== undefined) {
    await admin.connect();
    await admin.deleteTopics({ topics: [TOPIC, `${TOPIC}.dlq`] }).catch(() => undefined);
    await admin.disconnect();
  }
  await infra?.stop();
});

/**
 * What a producer built from a later schema writes: a valid envelope whose payload is a oneof
 * member this build lacks (raw field 99), with the `event-type` header naming it. The real
 * producer cannot write one (it validates against this build), so it goes through kafkajs.
 */
async function sendFutureRecord(): Promise<void> {
  const envelope = toBinary(
    BehaviourEventSchema,
    create(BehaviourEventSchema, {
      eventId: 'future:1',
      aggregateId: `user:${OPENID}`,
      occurredAt: timestampFromMs(AT + 180_000),
      producer: 'future-service',
      wechat: create(WeChatContextSchema, { openid: OPENID, appid: APPID }),
    }),
  );
  const futurePayload = new BinaryWriter()
    .tag(99, WireType.LengthDelimited)
    .bytes(new BinaryWriter().tag(1, WireType.Varint).int32(1).finish())
    .finish();
  const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({
      topic: TOPIC,
      acks: -1,
      messages: [
        {
          key: OPENID,
          value: Buffer.concat([envelope, futurePayload]),
          headers: { 'event-type': 'wxmesh.behaviour.v1.FutureThing', 'schema-version': '1' },
        },
      ],
    });
  } finally {
    await producer.disconnect();
  }
}

interface Run {
  code: number | null;
  stdout: string[];
  stderr: string;
}

/** Runs the example as an outsider would, on the spec's topic; resolves when it exits. */
async function runExample(args: string[], brokers = infra.kafkaBrokers): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', EXAMPLE, '--topic', TOPIC, ...args], {
    cwd: root,
    env: { ...process.env, KAFKA_BROKERS: brokers },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Recorded before anything is awaited: a failed assertion or a timed-out file still kills it.
  const forget = onExitCleanup(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  let code: number | null | undefined;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.on('exit', (exitCode) => (code = exitCode));
  try {
    // tsx compiles the example, kafkajs joins a group and fetches: a start-up, scaled with load.
    await waitFor(() => code !== undefined, {
      timeoutMs: scaledTimeout(60_000),
      message: `${EXAMPLE} ${args.join(' ')} to exit (stdout so far: ${JSON.stringify(stdout)})`,
    });
  } finally {
    child.kill('SIGKILL');
    forget();
  }
  return { code: code ?? null, stdout: stdout.split('\n').filter(Boolean), stderr };
}

describe('docs/examples/print-behaviour-events.ts', () => {
  test('--from-beginning --max N prints each event in order, one line each, and exits 0', async () => {
    const run = await runExample(['--from-beginning', '--max', String(LINES.length + 1)]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout, [...LINES, FUTURE_LINE]);
  });

  test('--max stops at N events even when more are there', async () => {
    const run = await runExample(['--from-beginning', '--max', '2']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout, LINES.slice(0, 2));
  });

  test('--idle-ms exits once no new event came for that long, after printing all of them', async () => {
    // Idle time counts from joining the group; the first fetch must beat it, so it scales with load.
    const run = await runExample(['--from-beginning', '--idle-ms', String(scaledTimeout(3_000))]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout, [...LINES, FUTURE_LINE]);
  });

  test('without --from-beginning a fresh group starts at the end: the events already there are not printed', async () => {
    const run = await runExample(['--idle-ms', String(scaledTimeout(3_000))]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout, []);
  });

  test('without KAFKA_BROKERS it exits 2 with its usage', async () => {
    const run = await runExample(['--from-beginning'], '');
    assert.equal(run.code, 2);
    assert.match(run.stderr, /usage: KAFKA_BROKERS=/);
  });
});
