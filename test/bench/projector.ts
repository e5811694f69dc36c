// Projector throughput, end to end from Kafka: events/s the behaviour-projector (its own process,
// as deployed) folds into Redis, against a bare kafkajs consumer that only counts the same records,
// measured in the same run on the same pre-filled topic. Rounds alternate bare/projector; each
// round is a fresh consumer group (and, for the projector, a fresh Redis key prefix) reading from
// offset 0. Time runs, for both, from the moment the consumer joined its group (partitions
// assigned, nothing fetched yet) to the last record processed: the group join is not counted, the
// first fetch is. (Starting at the first record processed instead would leave out the first
// fetch-and-decode cycle: a fifth of the bare consumer's run but a twentieth of the projector's.)
//
//   npm run infra -- node --import tsx test/bench/projector.ts
//   BENCH_EVENTS=100000 BENCH_ROUNDS=3 (defaults)
import { randomBytes } from 'node:crypto';
import {
  behaviourEvent,
  createEventProducer,
  ensureBehaviourTopics,
  type BehaviourPayloadInit,
} from '@wxmesh/events';
import { startInfra, startServiceProcess, waitFor } from '@wxmesh/testing';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const USERS = 5_000;
const TARGET = 0.4;
const RUN = randomBytes(3).toString('hex');
const topic = `bench.behaviour.${RUN}`;
const dlqTopic = `${topic}.dlq`;
const APPID = 'wx0123456789abcdef';

const infra = await startInfra({ redis: true, kafka: true });
const kafka = new kafkajs.Kafka({
  clientId: `bench-projector-${RUN}`,
  brokers: infra.kafkaBrokers.split(','),
  logLevel: kafkajs.logLevel.NOTHING,
});
const redis = new Redis(infra.redisUrl);

function payload(i: number): BehaviourPayloadInit {
  switch (i % 6) {
    case 0:
      return { case: 'userLoggedIn', value: { sessionId: `s${i}` } };
    case 1:
      return { case: 'sessionStarted', value: { sessionId: `s${i}` } };
    case 2:
      return { case: 'messageDelivered', value: { deliveryId: `d${i}`, messageId: `m${i}`, attempts: 1 } };
    case 3:
      return { case: 'orderCreated', value: { outTradeNo: `o${i}`, amountTotal: 100, currency: 'CNY' } };
    case 4:
      return {
        case: 'paymentSucceeded',
        value: {
          outTradeNo: `o${i}`,
          transactionId: `t${i}`,
          amountTotal: 100,
          payerTotal: 100,
          currency: 'CNY',
        },
      };
    default:
      return { case: 'phoneNumberBound', value: { countryCode: '86' } };
  }
}

async function fill(): Promise<void> {
  await ensureBehaviourTopics(kafka, { topic, dlqTopic, partitions: 6 });
  const producer = createEventProducer({ kafka, producer: 'bench', topic });
  await producer.connect();
  const start = Date.UTC(2025, 0, 1);
  for (let from = 0; from < EVENTS; from += 2000) {
    const batch = [];
    for (let i = from; i < Math.min(EVENTS, from + 2000); i++) {
      batch.push(
        behaviourEvent({
          eventId: `bench-${RUN}-${i}`,
          aggregateId: `user:${i % USERS}`,
          occurredAt: start + i * 1000,
          producer: 'bench',
          wechat: { openid: `o_${RUN}_${i % USERS}`, appid: APPID },
          payload: payload(i),
        }),
      );
    }
    await producer.emit(...batch);
  }
  await producer.disconnect();
}

/** events/s of a kafkajs consumer that only counts. */
async function bare(round: number): Promise<number> {
  const consumer = kafka.consumer({ groupId: `bench-bare-${RUN}-${round}`, maxBytes: 10 << 20 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let count = 0;
  let joined = 0;
  let last = 0;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined = performance.now();
  });
  await consumer.run({
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch }) => {
      count += batch.messages.length;
      last = performance.now();
    },
  });
  await waitFor(() => count >= EVENTS, {
    timeoutMs: 300_000,
    intervalMs: 50,
    message: 'bare consumer saw every record',
  });
  await consumer.disconnect();
  return EVENTS / ((last - joined) / 1000);
}

async function metric(url: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && line.includes(labels))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** events/s of the projector process, from its consumer's group join to the last record applied. */
async function projector(round: number): Promise<number> {
  const prefix = `wxm:bench:${RUN}:${round}:`;
  let joined = 0;
  const service = await startServiceProcess('behaviour-projector', {
    env: {
      REDIS_URL: infra.redisUrl,
      KAFKA_BROKERS: infra.kafkaBrokers,
      EVENTS_TOPIC: topic,
      EVENTS_DLQ_TOPIC: dlqTopic,
      EVENTS_CREATE_TOPICS: 'false',
      CONSUMER_GROUP: `bench-projector-${RUN}-${round}`,
      KEY_PREFIX: prefix,
    },
    timeoutMs: 60_000,
    onLine: (line) => {
      if (joined === 0 && line.includes('"consumer joined group"')) joined = performance.now();
    },
  });
  try {
    let last = 0;
    await waitFor(
      async () => {
        const n = await metric(service.httpUrl, 'wxmesh_events_consumed_total', 'result="applied"');
        if (n >= EVENTS) last = performance.now();
        return n >= EVENTS;
      },
      { timeoutMs: 300_000, intervalMs: 25, message: 'projector applied every record' },
    );
    const applied = await metric(service.httpUrl, 'wxmesh_projector_events_total', 'outcome="new"');
    if (applied !== EVENTS) throw new Error(`projector applied ${applied} new events, expected ${EVENTS}`);
    if (joined === 0) throw new Error('the projector never logged its group join');
    return EVENTS / ((last - joined) / 1000);
  } finally {
    service.child.kill('SIGTERM');
    await service.exited;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  console.log(`projector bench: ${EVENTS} events, ${USERS} users, 6 partitions, ${ROUNDS} rounds`);
  await fill();
  const bareRates: number[] = [];
  const projectorRates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    bareRates.push(await bare(round));
    projectorRates.push(await projector(round));
    console.log(
      `  round ${round + 1}: bare ${Math.round(bareRates[round]!)} events/s, projector ${Math.round(projectorRates[round]!)} events/s`,
    );
  }
  const b = median(bareRates);
  const p = median(projectorRates);
  console.log(`bare kafkajs consumer (counts only): ${Math.round(b)} events/s (median)`);
  console.log(`behaviour-projector (applied to Redis): ${Math.round(p)} events/s (median)`);
  console.log(`ratio projector/bare: ${(p / b).toFixed(2)} (target >= ${TARGET})`);
} finally {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic, dlqTopic] }).catch(() => {});
  await admin.disconnect();
  await redis.quit();
  await infra.stop();
}
