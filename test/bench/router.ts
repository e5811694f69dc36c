// message-router end to end, on real processes (the WeChat sandbox, session, auth-verify and the
// router, each bundled as production does and exported-traced to a local OTLP sink) over the real
// Redis and Kafka `npm run bench` provides:
// 1. Routed messages: SendSubscribeMessages in batches of 100 recipients (users with long-term
//    subscriptions at the sandbox), each round until every message is DELIVERED at the sandbox
//    (its send log's `sent` count) — messages/s on the wall clock, and messages per CPU-second of
//    the router process, against the kit's Echo on the same router process in the same run (calls
//    per CPU-second, measured as the other service benchmarks measure it). The router is set for
//    throughput (rate limit 100,000/s) so the limit is not what is measured. A round's CPU window
//    stays open until the router's outbox has published every message's behaviour events
//    (MessageRouted + MessageDelivered), so that work is counted too and does not leak into Echo.
//    Rounds interleave Echo and routed messages; medians are reported.
// 2. The queue's XADD -> worker latency: single-message calls at a moderate offered rate (a
//    quarter of the routed messages/s just measured, at most 200/s), then each delivery's history
//    from GetDelivery (millisecond timestamps): QUEUED (created and XADDed in one Redis script) ->
//    SENDING (a worker read it, took the rate limit, started the attempt).
// 3. The drained rate of a burst with the rate limit set on a second router (run alone: replicas
//    share the queue), from the sandbox's send times past the bucket's burst: measured /
//    configured. The limit is 300/s, or a quarter of the routed messages/s measured in 1 when that
//    is lower, so that the limit, not the router's own ceiling on this machine, drains the queue.
// The router is reached only over its RPCs, the sandbox only over its HTTP API.
//
//   npm run infra -- node --import tsx test/bench/router.ts
//   BENCH_ROUTER_MESSAGES=2000 (per round) BENCH_CALLS=5000 (Echo) BENCH_ROUNDS=3
//   BENCH_ROUTER_LATENCY_JOBS=2000 BENCH_ROUTER_LATENCY_RATE=<jobs/s>
//   BENCH_NODE_FLAGS='--cpu-prof --cpu-prof-dir=tmp/prof' (every service it starts)
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { setTimeout as until } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import {
  DeliveryState,
  EchoRequestSchema,
  MessageRouterService,
  SendSubscribeMessagesRequestSchema,
} from '@wxmesh/contracts';
import { BEHAVIOUR_TOPIC } from '@wxmesh/events';
import { asPeer, freePort, sandboxControl, waitFor } from '@wxmesh/testing';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';
import {
  bundle,
  cpuSeconds,
  drive,
  encodeRequest,
  otlpSink,
  serviceBenchOptions,
  spawnService,
  type Workload,
} from './service-bench.js';

// Fewer calls than the other service benches: a routed message costs the router several Echo calls.
const OPTIONS = { ...serviceBenchOptions('router'), calls: Number(process.env.BENCH_CALLS ?? 5_000) };
const MESSAGES = Number(process.env.BENCH_ROUTER_MESSAGES ?? 2_000);
const BATCH = 100;
/** SendSubscribeMessages calls in flight while a round is offered. */
const CALLS_IN_FLIGHT = 4;
const USERS = 1_000;
const THROUGHPUT_LIMIT = 100_000;
/** The rate limit's run: at most this rate, a burst of a tenth of a second's sends, 8 s of sends. */
const LIMITED = { maxPerSecond: 300, burstSeconds: 0.1, seconds: 8 };
const LATENCY = { jobs: Number(process.env.BENCH_ROUTER_LATENCY_JOBS ?? 2_000), maxPerSecond: 200 };
/** What a delivered subscribe message owes Kafka: MessageRouted and MessageDelivered. */
const EVENTS_PER_MESSAGE = 2;
const RUN = randomBytes(3).toString('hex');
// Fresh apps per run: the router's rate buckets and auth-verify's tokens live in Redis, keyed by appid.
const APP = { fast: `wx${randomBytes(8).toString('hex')}`, limited: `wx${randomBytes(8).toString('hex')}` };
const TEMPLATE = 'tpl_bench_notice';
const CONTENT = { templateId: TEMPLATE, data: { thing1: 'bench', amount2: '1.00元' } };
const openids = Array.from({ length: USERS }, (_, i) => `o_routerbench_${RUN}_${i}`);
const DEADLINE_MS = 180_000;

const dir = fileURLToPath(new URL('../../tmp/bench/router-secrets/', import.meta.url));
mkdirSync(dir, { recursive: true });
const secrets = {
  [APP.fast]: randomBytes(16).toString('hex'),
  [APP.limited]: randomBytes(16).toString('hex'),
};
writeFileSync(
  `${dir}app-secret`,
  Object.entries(secrets)
    .map(([appid, secret]) => `${appid}=${secret}\n`)
    .join(''),
);
writeFileSync(`${dir}key`, randomBytes(32).toString('base64'));

const phases: Array<[string, number]> = [];
let phaseStart = performance.now();
/** Records how long the phase that just ended took. */
const phase = (name: string) => {
  const now = performance.now();
  phases.push([name, (now - phaseStart) / 1000]);
  phaseStart = now;
};

// Bundled as production builds are; auth-verify and the router into their own dist/ so their
// third-party imports resolve from their own node_modules (lru-cache 11, p-limit 7).
const bundles = {
  sandbox: bundle('services/wechat-sandbox/src/main.ts', 'wechat-sandbox.mjs'),
  session: bundle('services/session/src/main.ts', 'session.mjs'),
  auth: bundle('services/auth-verify/src/main.ts', '../../services/auth-verify/dist/bench-main.mjs'),
  router: bundle('services/message-router/src/main.ts', '../../services/message-router/dist/bench-main.mjs'),
};

interface Started {
  readonly child: ChildProcess;
  readonly address: string;
  readonly httpUrl: string;
  /** Aborted when the process exits, so no wait outlives it. */
  readonly running: AbortSignal;
  /** Resolves once the process answers ready on /readyz. */
  readonly ready: Promise<void>;
}

const sink = await otlpSink();
const children: ChildProcess[] = [];
const redis = new Redis(process.env.REDIS_URL!, { lazyConnect: true });
const kafka = new kafkajs.Kafka({
  clientId: `bench-router-${RUN}`,
  brokers: process.env.KAFKA_BROKERS!.split(','),
  logLevel: kafkajs.logLevel.NOTHING,
});
const admin = kafka.admin();

/**
 * Spawns a bundled service on known ports (so its peers can be given its address at once) and
 * records it before anything is awaited on it; `ready` says when it serves.
 */
async function start(name: string, bundlePath: string, env: Record<string, string>): Promise<Started> {
  const httpPort = await freePort();
  const service = await spawnService(bundlePath, {
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    HTTP_PORT: String(httpPort),
    ...env,
  });
  children.push(service.child);
  const exited = new AbortController();
  // Every wait on the process listens to this signal; many run at once.
  setMaxListeners(0, exited.signal);
  service.child.once('exit', (code, signal) => exited.abort(new Error(`${name} exited (${code ?? signal})`)));
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const ready = waitFor(() => fetch(`${httpUrl}/readyz`).then((r) => r.ok), {
    timeoutMs: 120_000,
    intervalMs: 200,
    message: `${name} is ready`,
    signal: exited.signal,
  }).then(() => undefined);
  // Awaited by the caller; a failure before then is reported there, not as an unhandled rejection.
  ready.catch(() => {});
  return { child: service.child, address: service.address, httpUrl, running: exited.signal, ready };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** A call to the sandbox's control API; throws with the answer unless it is 2xx. */
const sandboxCall = (sandbox: Started, path: string, body?: unknown): Promise<unknown> =>
  sandboxControl(sandbox.httpUrl, path, body);

/** The template on both apps; every user subscribed long-term on the fast app, the first 100 on the other. */
async function subscribeUsers(sandbox: Started): Promise<void> {
  for (const appid of Object.values(APP)) {
    await sandboxCall(sandbox, '/sandbox/mp/templates', {
      appid,
      template_id: TEMPLATE,
      keywords: Object.keys(CONTENT.data),
    });
  }
  const grants = [
    ...openids.map((openid) => ({ appid: APP.fast, openid })),
    ...openids.slice(0, BATCH).map((openid) => ({ appid: APP.limited, openid })),
  ];
  let next = 0;
  const worker = async () => {
    while (next < grants.length) {
      const grant = grants[next++]!;
      await sandboxCall(sandbox, '/sandbox/mp/subscriptions', {
        ...grant,
        template_id: TEMPLATE,
        kind: 'long-term',
      });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

const sentAt = async (sandbox: Started, appid: string) =>
  ((await sandboxCall(sandbox, `/sandbox/mp/subscribe-stats?appid=${appid}`)) as { sent: number }).sent;

async function eventsOnTopic(): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(BEHAVIOUR_TOPIC);
  return offsets.reduce((sum, p) => sum + Number(p.high), 0);
}

/** Redis's CPU seconds, as INFO reports them. */
async function redisCpuSeconds(): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1]);
  return seconds('used_cpu_user') + seconds('used_cpu_sys');
}

/** SendSubscribeMessages bodies: `count` messages in batches of 100 recipients, fresh message ids. */
function batches(appid: string, label: string, count: number, users = openids): Buffer[] {
  return Array.from({ length: Math.ceil(count / BATCH) }, (_, i) =>
    encodeRequest(SendSubscribeMessagesRequestSchema, {
      appid,
      messageId: `bench-${RUN}-${label}-${i}`,
      messages: Array.from({ length: Math.min(BATCH, count - i * BATCH) }, (_, j) => ({
        openid: users[(i * BATCH + j) % users.length]!,
        content: CONTENT,
      })),
    }),
  );
}

const SEND_PATH = '/wxmesh.router.v1.MessageRouterService/SendSubscribeMessages';
/** SendSubscribeMessages is served to business backends. */
const PEER = { 'x-wxmesh-peer': 'business-backend' };

interface RoutedRound {
  perSecond: number;
  perRouterCpuSecond: number;
  /** CPU µs per message: router, sandbox, Redis. */
  cpuUs: { router: number; sandbox: number; redis: number };
}

/**
 * One round of routed messages: offered in batches, timed until the sandbox has sent them all;
 * CPU counted until the router's outbox has published their events too.
 */
async function routedRound(
  world: { router: Started; sandbox: Started; client: grpc.Client },
  label: string,
  count: number,
): Promise<RoutedRound> {
  const { router, sandbox, client } = world;
  const workload: Workload = { path: SEND_PATH, bodies: batches(APP.fast, label, count), metadata: PEER };
  const [sentBefore, eventsBefore] = await Promise.all([sentAt(sandbox, APP.fast), eventsOnTopic()]);
  const cpu = { router: cpuSeconds(router.child.pid!), sandbox: cpuSeconds(sandbox.child.pid!) };
  const redisBefore = await redisCpuSeconds();
  const startedAt = performance.now();
  await drive(client, workload, workload.bodies.length, CALLS_IN_FLIGHT);
  const wait = { timeoutMs: DEADLINE_MS, intervalMs: 50, signal: router.running };
  await waitFor(async () => (await sentAt(sandbox, APP.fast)) - sentBefore >= count, {
    ...wait,
    message: `${count} messages delivered at the sandbox (${label})`,
  });
  const seconds = (performance.now() - startedAt) / 1000;
  await waitFor(async () => (await eventsOnTopic()) - eventsBefore >= count * EVENTS_PER_MESSAGE, {
    ...wait,
    message: `the router published the events of ${count} messages (${label})`,
  });
  const routerCpu = cpuSeconds(router.child.pid!) - cpu.router;
  const us = (s: number) => (s * 1e6) / count;
  return {
    perSecond: count / seconds,
    perRouterCpuSecond: count / routerCpu,
    cpuUs: {
      router: us(routerCpu),
      sandbox: us(cpuSeconds(sandbox.child.pid!) - cpu.sandbox),
      redis: us((await redisCpuSeconds()) - redisBefore),
    },
  };
}

const ECHO: Workload = {
  path: '/wxmesh.echo.v1.EchoService/Echo',
  bodies: [encodeRequest(EchoRequestSchema, { message: 'benchmark payload' })],
};

/** Echo calls per CPU-second of the router (and per wall second), as the other service benches measure it. */
async function echoRound(
  router: Started,
  client: grpc.Client,
): Promise<{ perCpuSecond: number; perSecond: number }> {
  const before = cpuSeconds(router.child.pid!);
  const startedAt = performance.now();
  await drive(client, ECHO, OPTIONS.calls, OPTIONS.concurrency);
  return {
    perSecond: OPTIONS.calls / ((performance.now() - startedAt) / 1000),
    perCpuSecond: OPTIONS.calls / (cpuSeconds(router.child.pid!) - before),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Nearest-rank percentile of sorted values. */
const percentile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

async function measureThroughput(router: Started, sandbox: Started) {
  const client = new grpc.Client(router.address, grpc.credentials.createInsecure());
  const world = { router, sandbox, client };
  await drive(client, ECHO, 1_000, OPTIONS.concurrency);
  await routedRound(world, 'warmup', 500);
  const echo: Array<{ perCpuSecond: number; perSecond: number }> = [];
  const routed: RoutedRound[] = [];
  for (let round = 0; round < OPTIONS.rounds; round++) {
    echo.push(await echoRound(router, client));
    routed.push(await routedRound(world, `r${round}`, MESSAGES));
  }
  client.close();
  return { echo, routed };
}

/** Single-message jobs offered at `perSecond`; QUEUED -> SENDING (and -> DELIVERED) per job, in ms. */
async function measureLatency(router: Started, perSecond: number) {
  const routerClient = createClient(
    MessageRouterService,
    createGrpcTransport({ baseUrl: `http://${router.address}`, interceptors: [asPeer('business-backend')] }),
  );
  const startedAt = performance.now();
  const calls: Array<Promise<string>> = [];
  for (let i = 0; i < LATENCY.jobs; i++) {
    const due = startedAt + (i * 1000) / perSecond;
    if (due > performance.now()) await until(due - performance.now());
    calls.push(
      routerClient
        .sendSubscribeMessages({
          appid: APP.fast,
          messageId: `bench-${RUN}-latency-${i}`,
          messages: [{ openid: openids[i % USERS]!, content: CONTENT }],
        })
        .then(({ results }) => results[0]!.deliveryId),
    );
  }
  const ids = await Promise.all(calls);
  const offeredPerSecond = LATENCY.jobs / ((performance.now() - startedAt) / 1000);
  const pickup: number[] = [];
  const delivered: number[] = [];
  let next = 0;
  const reader = async () => {
    while (next < ids.length) {
      const deliveryId = ids[next++]!;
      const history = await waitFor(
        async () => {
          const { delivery } = await routerClient.getDelivery({ deliveryId });
          return delivery?.state === DeliveryState.DELIVERED ? delivery.history : undefined;
        },
        {
          timeoutMs: DEADLINE_MS,
          intervalMs: 100,
          message: `${deliveryId} delivered`,
          signal: router.running,
        },
      );
      const at = (state: DeliveryState) => timestampMs(history.find((s) => s.state === state)!.at!);
      pickup.push(at(DeliveryState.SENDING) - at(DeliveryState.QUEUED));
      delivered.push(at(DeliveryState.DELIVERED) - at(DeliveryState.QUEUED));
    }
  };
  await Promise.all(Array.from({ length: 16 }, reader));
  return {
    offeredPerSecond,
    pickup: pickup.sort((a, b) => a - b),
    delivered: delivered.sort((a, b) => a - b),
  };
}

/**
 * A burst far past the bucket, drained by the rate-limited router; its rate from the sandbox's
 * send times.
 */
async function measureDrain(router: Started, sandbox: Started, limit: RateLimit) {
  const client = new grpc.Client(router.address, grpc.credentials.createInsecure());
  const workload: Workload = {
    path: SEND_PATH,
    bodies: batches(APP.limited, 'limited', limit.messages, openids.slice(0, BATCH)),
    metadata: PEER,
  };
  await drive(client, workload, workload.bodies.length, CALLS_IN_FLIGHT);
  client.close();
  await waitFor(async () => (await sentAt(sandbox, APP.limited)) >= limit.messages, {
    timeoutMs: (limit.messages / limit.perSecond) * 3_000 + 30_000,
    intervalMs: 200,
    message: `${limit.messages} rate-limited messages delivered`,
    signal: router.running,
  });
  const sent = (await sandboxCall(sandbox, `/sandbox/mp/subscribe-messages?appid=${APP.limited}`)) as Array<{
    sentAt: number;
  }>;
  const times = sent.map((m) => m.sentAt).sort((a, b) => a - b);
  // The bucket starts full: `burst` sends go at once, every later one waits for a refilled token.
  // The first and the last send lag their token by the same send time, so that cancels out.
  const refilled = times.length - limit.burst;
  return { perSecond: refilled / ((times.at(-1)! - times[0]!) / 1000), refilled };
}

/** A rate limit for the router, and a queue of 8 s of sends at that limit to show it. */
interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
  readonly messages: number;
}

/** A quarter of the routed rate, at most `max`: a moderate load for this machine. */
const moderate = (routedPerSecond: number, max: number) =>
  Math.max(10, Math.min(max, Math.round(routedPerSecond / 4)));

function rateLimitBelow(routedPerSecond: number): RateLimit {
  const perSecond = moderate(routedPerSecond, LIMITED.maxPerSecond);
  return {
    perSecond,
    burst: Math.max(1, Math.round(perSecond * LIMITED.burstSeconds)),
    messages: perSecond * LIMITED.seconds,
  };
}

try {
  await Promise.all([redis.connect(), admin.connect()]);
  // All four start at once: each one's peers are only called once traffic flows.
  const sandbox = await start('wechat-sandbox', bundles.sandbox, {
    SANDBOX_APPS: Object.entries(secrets)
      .map(([appid, secret]) => `${appid}:${secret}`)
      .join(','),
  });
  const session = await start('session', bundles.session, {});
  const auth = await start('auth-verify', bundles.auth, {
    SESSION_ADDR: session.address,
    WECHAT_API_BASE_URL: sandbox.httpUrl,
    WECHAT_APP_SECRET_FILE: `${dir}app-secret`,
    SESSION_KEY_ENCRYPTION_KEY_FILE: `${dir}key`,
  });
  const routerEnv = {
    SESSION_ADDR: session.address,
    AUTH_VERIFY_ADDR: auth.address,
    WECHAT_API_BASE_URL: sandbox.httpUrl,
  };
  const fast = await start('message-router', bundles.router, {
    ...routerEnv,
    SEND_RATE_PER_SECOND: String(THROUGHPUT_LIMIT),
    SEND_RATE_BURST: String(THROUGHPUT_LIMIT),
  });
  await Promise.all([sandbox, session, auth, fast].map((p) => p.ready));
  await subscribeUsers(sandbox);
  phase('bundles + start-up');
  const throughput = await measureThroughput(fast, sandbox);
  phase('throughput');
  const routedPerSecond = median(throughput.routed.map((r) => r.perSecond));
  const latency = await measureLatency(
    fast,
    Number(process.env.BENCH_ROUTER_LATENCY_RATE ?? moderate(routedPerSecond, LATENCY.maxPerSecond)),
  );
  phase('latency');
  // The replicas share the queue: the rate-limited one runs alone.
  await stop(fast.child);
  const limit = rateLimitBelow(routedPerSecond);
  const limited = await start('message-router', bundles.router, {
    ...routerEnv,
    SEND_RATE_PER_SECOND: String(limit.perSecond),
    SEND_RATE_BURST: String(limit.burst),
  });
  await limited.ready;
  const drain = await measureDrain(limited, sandbox, limit);
  phase('rate limit');
  report({ ...throughput, routedPerSecond, latency, limit, drain });
} finally {
  for (const child of children.reverse()) await stop(child);
  await admin.disconnect().catch(() => {});
  redis.disconnect();
  sink.server.close();
}

function report(r: {
  echo: Array<{ perCpuSecond: number; perSecond: number }>;
  routed: RoutedRound[];
  routedPerSecond: number;
  latency: Awaited<ReturnType<typeof measureLatency>>;
  limit: RateLimit;
  drain: Awaited<ReturnType<typeof measureDrain>>;
}): void {
  const echo = median(r.echo.map((e) => e.perCpuSecond));
  const echoWall = median(r.echo.map((e) => e.perSecond));
  const perCpu = median(r.routed.map((m) => m.perRouterCpuSecond));
  const us = (name: keyof RoutedRound['cpuUs']) => median(r.routed.map((m) => m.cpuUs[name])).toFixed(0);
  console.log(
    `router bench (Node ${process.versions.node}): ${OPTIONS.rounds} rounds x ${MESSAGES} subscribe messages ` +
      `(SendSubscribeMessages, ${BATCH} recipients per call, ${CALLS_IN_FLIGHT} calls in flight, ${USERS} users ` +
      `with long-term subscriptions), each until every one is DELIVERED at the sandbox; ` +
      `Echo ${OPTIONS.rounds} rounds x ${OPTIONS.calls} unary calls, concurrency ${OPTIONS.concurrency}; interleaved, medians`,
  );
  console.log(
    `  router set for throughput: SEND_RATE_PER_SECOND=${THROUGHPUT_LIMIT} SEND_RATE_BURST=${THROUGHPUT_LIMIT} ` +
      '(the rate limit is not what is measured), SEND_CONCURRENCY=32 (default)',
  );
  console.log(
    `  Echo (kit baseline, router process)  ${echo.toFixed(0).padStart(6)} calls/CPU-s      (${echoWall.toFixed(0)} calls/s wall)`,
  );
  console.log(
    `  routed messages, end to end          ${perCpu.toFixed(0).padStart(6)} messages/CPU-s   ratio vs Echo: ${(perCpu / echo).toFixed(2)}` +
      '   (router CPU, its outbox publishing MessageRouted + MessageDelivered included)',
  );
  console.log(
    `  routed messages/s, wall clock (every process shares this machine's cores): ${r.routedPerSecond.toFixed(0)}` +
      `   rounds: ${r.routed.map((m) => m.perSecond.toFixed(0)).join(', ')}`,
  );
  console.log(
    `  CPU per routed message: router ${us('router')} µs, sandbox ${us('sandbox')} µs, Redis ${us('redis')} µs`,
  );
  const ms = (xs: number[]) =>
    `p50 ${percentile(xs, 0.5)} ms, p99 ${percentile(xs, 0.99)} ms, max ${xs.at(-1)} ms`;
  console.log(
    `  queue XADD -> worker (QUEUED -> SENDING in GetDelivery's history, ms timestamps): ${ms(r.latency.pickup)} ` +
      `over ${LATENCY.jobs} jobs offered at ${r.latency.offeredPerSecond.toFixed(0)}/s (one per call; a quarter of the routed rate, at most ${LATENCY.maxPerSecond}/s)`,
  );
  console.log(`  job QUEUED -> DELIVERED at the sandbox: ${ms(r.latency.delivered)}`);
  console.log(
    `  rate limit set (SEND_RATE_PER_SECOND=${r.limit.perSecond}, SEND_RATE_BURST=${r.limit.burst}; ` +
      `${LIMITED.maxPerSecond}/s or a quarter of the routed rate): ${r.limit.messages} messages drained at ` +
      `${r.drain.perSecond.toFixed(1)} messages/s (the ${r.drain.refilled} sends past the burst over the time from ` +
      'the first send to the last), ' +
      `ratio measured/configured: ${(r.drain.perSecond / r.limit.perSecond).toFixed(3)}`,
  );
  console.log(`  time taken: ${phases.map(([name, s]) => `${name} ${s.toFixed(0)} s`).join(', ')}`);
}
