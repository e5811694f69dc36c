// Projector throughput, end to end from Kafka: events/s the behaviour-projector (its own process,
// as deployed) folds into Redis, against a bare kafkajs consumer that only counts the same records,
// measured in the same run on the same pre-filled topic; the projector twice, with its fast chunk
// codec and with the reference codec (the A/B that decides whether the fast path stays, see
// VARIANTS). Each round runs bare, then both variants in a rotating order; each run is a fresh
// consumer group (and, for the projector, a fresh process and Redis key prefix)
// reading from offset 0. The rate is the steady one: the first BENCH_WARMUP records (fetched,
// decoded and applied like the others) warm up the process, its JIT, Redis' scripts and the
// consumer's fetch loop; the clock then runs from the first observation at or past the warm-up to
// the last record, and the rate is the records processed in between over that time. Over the same
// window it reads the CPU time of the consuming process (all its threads: JS, GC, I/O) and of
// Redis, and prints both per event: the ratio swings with this VM's speed, these show where the
// time goes.
//
//   npm run infra -- node --import tsx test/bench/projector.ts
//   BENCH_EVENTS=100000 BENCH_WARMUP=20000 BENCH_ROUNDS=3 (defaults)
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
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
const WARMUP = Number(process.env.BENCH_WARMUP ?? 20_000);
const TOTAL = WARMUP + EVENTS;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const USERS = 5_000;
const TARGET = 0.4;
const RUN = randomBytes(3).toString('hex');
const topic = `bench.behaviour.${RUN}`;
const dlqTopic = `${topic}.dlq`;
const APPID = 'wx0123456789abcdef';

/**
 * The projector's fast chunk codec against its reference, in one run: each variant is the service
 * bundled as its image is (scripts/build.ts's settings), with adapters/production-chunk-codec.ts
 * pointing at that codec. Bundled into the service's own dist/ for the session-token cache's
 * lru-cache 11 (the root has lru-cache 5; see auth.ts).
 */
const VARIANTS = {
  'fast (positional records)': 'fast/positional-chunk-codec.js#positionalChunkCodec',
  'reference (named fields)': 'chunk-codec.js#namedFieldsCodec',
} as const;
type Variant = keyof typeof VARIANTS;
const serviceDir = fileURLToPath(new URL('../../services/behaviour-projector/', import.meta.url));

async function bundleVariant(variant: Variant, index: number): Promise<string> {
  const [module, codec] = VARIANTS[variant].split('#') as [string, string];
  const outfile = `${serviceDir}dist/bench-main-${index}.mjs`;
  await build({
    entryPoints: [`${serviceDir}src/main.ts`],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    banner: {
      js: "import { createRequire as __wxmCreateRequire } from 'node:module'; const require = __wxmCreateRequire(import.meta.url);",
    },
    plugins: [
      {
        name: 'externalize-third-party-and-pick-codec',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (args) =>
            args.path.startsWith('@wxmesh/') ? undefined : { path: args.path, external: true },
          );
          b.onResolve({ filter: /\/production-chunk-codec\.js$/ }, () => ({
            path: variant,
            namespace: 'codec',
          }));
          b.onLoad({ filter: /.*/, namespace: 'codec' }, () => ({
            contents: `export { ${codec} as productionChunkCodec } from './${module}';`,
            resolveDir: `${serviceDir}src/adapters`,
            loader: 'ts',
          }));
        },
      },
    ],
  });
  return outfile;
}

const variants = Object.keys(VARIANTS) as Variant[];
const bundles = await Promise.all(variants.map(bundleVariant));
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
  for (let from = 0; from < TOTAL; from += 2000) {
    const batch = [];
    for (let i = from; i < Math.min(TOTAL, from + 2000); i++) {
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

/** A CPU time counter, in microseconds. */
type CpuCounter = () => number | Promise<number>;

interface WindowEdge<K extends string> {
  at: number;
  count: number;
  cpu: Record<K, number>;
}

/**
 * Records processed over time, from the first observation at or past the warm-up to the end, and
 * what each of the given CPU counters used over that same window.
 */
class SteadyRate<K extends string> {
  private from: WindowEdge<K> | undefined;
  private to: WindowEdge<K> | undefined;

  constructor(private readonly counters: Record<K, CpuCounter>) {}

  async observe(count: number): Promise<void> {
    if (this.to !== undefined || count < WARMUP) return;
    const at = performance.now();
    const names = Object.keys(this.counters) as K[];
    const values = await Promise.all(names.map((name) => this.counters[name]()));
    const edge = {
      at,
      count,
      cpu: Object.fromEntries(names.map((n, i) => [n, values[i]!])) as Record<K, number>,
    };
    this.from ??= edge;
    if (count >= TOTAL) this.to ??= edge;
  }

  get done(): boolean {
    return this.to !== undefined;
  }

  /** events/s; throws when the window holds too few records to mean anything. */
  perSecond(): number {
    const { from, to } = this.window();
    return (to.count - from.count) / ((to.at - from.at) / 1000);
  }

  /** CPU microseconds per record that counter `name` used over the window. */
  cpuPerRecord(name: K): number {
    const { from, to } = this.window();
    return (to.cpu[name] - from.cpu[name]) / (to.count - from.count);
  }

  private window(): { from: WindowEdge<K>; to: WindowEdge<K> } {
    const { from, to } = this;
    if (from === undefined || to === undefined) throw new Error('the consumer did not finish');
    if (to.count - from.count < EVENTS / 2) {
      throw new Error(
        `only ${to.count - from.count} records after the warm-up were timed; raise BENCH_EVENTS`,
      );
    }
    return { from, to };
  }
}

/** CPU microseconds this process has used. */
function ownCpuUs(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** CPU microseconds a process has used (all its threads), from /proc (Linux's USER_HZ is 100). */
function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000; // utime, stime (fields 14 and 15)
}

/** CPU microseconds Redis has used, as INFO reports it. */
async function redisCpuUs(): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1]);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6;
}

interface RoundResult {
  perSecond: number;
  /** CPU µs per record of the consuming process (all threads: JS, GC, I/O). */
  cpuUs: number;
  /** Redis CPU µs per record (projector only). */
  redisUs?: number;
}

/** events/s of a kafkajs consumer that only counts. */
async function bare(round: number): Promise<RoundResult> {
  const consumer = kafka.consumer({ groupId: `bench-bare-${RUN}-${round}`, maxBytes: 10 << 20 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const rate = new SteadyRate({ cpu: ownCpuUs });
  let count = 0;
  await consumer.run({
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch }) => {
      count += batch.messages.length;
      await rate.observe(count);
    },
  });
  await waitFor(() => rate.done, {
    timeoutMs: 300_000,
    intervalMs: 50,
    message: 'bare consumer saw every record',
  });
  await consumer.disconnect();
  return { perSecond: rate.perSecond(), cpuUs: rate.cpuPerRecord('cpu') };
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

/** events/s of the projector process, as its metrics report records applied. */
async function projector(round: number, v: number): Promise<RoundResult> {
  const prefix = `wxm:bench:${RUN}:${round}:${v}:`;
  const service = await startServiceProcess('behaviour-projector', {
    env: {
      REDIS_URL: infra.redisUrl,
      KAFKA_BROKERS: infra.kafkaBrokers,
      EVENTS_TOPIC: topic,
      EVENTS_DLQ_TOPIC: dlqTopic,
      EVENTS_CREATE_TOPICS: 'false',
      CONSUMER_GROUP: `bench-projector-${RUN}-${round}-${v}`,
      KEY_PREFIX: prefix,
    },
    bundle: bundles[v],
    timeoutMs: 60_000,
  });
  try {
    const pid = service.child.pid!;
    const rate = new SteadyRate({ cpu: () => processCpuUs(pid), redis: redisCpuUs });
    await waitFor(
      async () => {
        await rate.observe(await metric(service.httpUrl, 'wxmesh_events_consumed_total', 'result="applied"'));
        return rate.done;
      },
      { timeoutMs: 300_000, intervalMs: 25, message: 'projector applied every record' },
    );
    const applied = await metric(service.httpUrl, 'wxmesh_projector_events_total', 'outcome="new"');
    if (applied !== TOTAL) throw new Error(`projector applied ${applied} new events, expected ${TOTAL}`);
    return {
      perSecond: rate.perSecond(),
      cpuUs: rate.cpuPerRecord('cpu'),
      redisUs: rate.cpuPerRecord('redis'),
    };
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

const describe = (r: RoundResult) =>
  `${Math.round(r.perSecond)} events/s (${r.cpuUs.toFixed(1)} µs CPU/event` +
  (r.redisUs === undefined ? ')' : `, Redis ${r.redisUs.toFixed(1)} µs/event)`);

try {
  console.log(
    `projector bench (Node ${process.versions.node}): ${WARMUP} warm-up + ${EVENTS} timed events, ${USERS} users, 6 partitions, ${ROUNDS} rounds`,
  );
  await fill();
  const bareRounds: RoundResult[] = [];
  const variantRounds = variants.map((): RoundResult[] => []);
  for (let round = 0; round < ROUNDS; round++) {
    const b = await bare(round);
    bareRounds.push(b);
    const line = [`bare ${describe(b)}`];
    // Variants in a rotating order, so that none always runs first or last in a round.
    for (let k = 0; k < variants.length; k++) {
      const v = (round + k) % variants.length;
      const p = await projector(round, v);
      variantRounds[v]!.push(p);
      line.push(`${variants[v]} ${describe(p)}`);
    }
    console.log(`  round ${round + 1}: ${line.join('; ')}`);
  }
  const b = median(bareRounds.map((r) => r.perSecond));
  console.log(
    `bare kafkajs consumer (counts only): ${Math.round(b)} events/s (median), ` +
      `${median(bareRounds.map((r) => r.cpuUs)).toFixed(1)} µs CPU/event`,
  );
  const fast = median(variantRounds[0]!.map((r) => r.perSecond));
  variants.forEach((name, v) => {
    const rounds = variantRounds[v]!;
    const p = median(rounds.map((r) => r.perSecond));
    console.log(
      `behaviour-projector, ${name} (applied to Redis): ${Math.round(p)} events/s (median), ` +
        `${median(rounds.map((r) => r.cpuUs)).toFixed(1)} µs CPU/event in its process ` +
        `+ ${median(rounds.map((r) => r.redisUs!)).toFixed(1)} µs in Redis; ` +
        `ratio to bare ${(p / b).toFixed(2)} (target >= ${TARGET}), fast/${name} ${(fast / p).toFixed(2)}`,
    );
  });
} finally {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic, dlqTopic] }).catch(() => {});
  await admin.disconnect();
  await redis.quit();
  await infra.stop();
}
