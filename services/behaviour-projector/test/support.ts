import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { BehaviourViewService, type BehaviourEvent, type UserJourney } from '@wxmesh/contracts';
import { behaviourEvent, type BehaviourPayloadInit } from '@wxmesh/events';
import { asPeer, onExitCleanup, startServiceProcess, type ServiceProcess } from '@wxmesh/testing';
import type { Redis } from 'ioredis';

export type ViewClient = Client<typeof BehaviourViewService>;

/** Keeps runs apart on a shared Redis/Kafka: topics, group and key prefix are per run. */
export const RUN = randomBytes(3).toString('hex');
export const APPS = ['wx00000000000000a1', 'wx00000000000000b2'] as const;
const serviceDir = fileURLToPath(new URL('..', import.meta.url));

export interface Setup {
  redisUrl: string;
  kafkaBrokers: string;
  topic: string;
  dlqTopic: string;
  prefix: string;
  group: string;
  /** How the projector reaches Redis beyond REDIS_URL (REDIS_MODE, REDIS_CLUSTER_NODES); standalone without. */
  redisEnv?: Record<string, string>;
}

export function setupFor(infra: { redisUrl: string; kafkaBrokers: string }, name: string): Setup {
  return {
    redisUrl: infra.redisUrl,
    kafkaBrokers: infra.kafkaBrokers,
    topic: `test.behaviour.${RUN}.${name}`,
    dlqTopic: `test.behaviour.${RUN}.${name}.dlq`,
    prefix: `wxm:projector:t${RUN}${name}:`,
    group: `projector-test-${RUN}-${name}`,
  };
}

/** The environment of a projector (service or rebuild) for a test setup. */
export function projectorEnv(s: Setup): Record<string, string> {
  return {
    REDIS_URL: s.redisUrl,
    ...s.redisEnv,
    KAFKA_BROKERS: s.kafkaBrokers,
    EVENTS_TOPIC: s.topic,
    EVENTS_DLQ_TOPIC: s.dlqTopic,
    KEY_PREFIX: s.prefix,
    CONSUMER_GROUP: s.group,
    // A SIGKILLed member's partitions move after this; 6 s is the broker's minimum.
    CONSUMER_SESSION_TIMEOUT: '6s',
    CONSUMER_HEARTBEAT_INTERVAL: '1s',
    APPLY_MAX_ATTEMPTS: '3',
    APPLY_RETRY_BACKOFF: '20ms',
    SHUTDOWN_GRACE_MS: '3000',
    // The http port trusts X-WX-* (tests play the cloud gateway there).
    EDGE_BEHIND_GATEWAY: 'true',
  };
}

/** A projector as its own process with a connect-node gRPC client (not the kit's), calling as the admin tools. */
export interface Projector {
  readonly process: ServiceProcess;
  readonly client: ViewClient;
}

export async function startProjector(s: Setup): Promise<Projector> {
  const process = await startServiceProcess('behaviour-projector', {
    env: projectorEnv(s),
    timeoutMs: 60_000,
  });
  return { process, client: grpcClientOf(process, asPeer('operator')) };
}

/** A client of a projector's grpc port, calling as `as` makes it (a mesh peer, or nobody). */
export function grpcClientOf(process: ServiceProcess, ...as: Interceptor[]): ViewClient {
  const transport = createGrpcTransport({ baseUrl: `http://${process.grpcAddress}`, interceptors: as });
  return createClient(BehaviourViewService, transport);
}

/** A client of a projector's http port (Connect), calling as `as` makes it (the gateway's user, or nobody). */
export function edgeClientOf(process: ServiceProcess, ...as: Interceptor[]): ViewClient {
  const transport = createConnectTransport({
    baseUrl: process.httpUrl,
    httpVersion: '1.1',
    interceptors: as,
  });
  return createClient(BehaviourViewService, transport);
}

/** Runs the rebuild command as its own process; resolves with its result line, rejects on failure. */
export function runRebuild(s: Setup, args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/rebuild-main.ts', ...args], {
      cwd: serviceDir,
      env: { ...process.env, ...projectorEnv(s), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Recorded before it is awaited: a test that fails or times out meanwhile must not leave it running.
    const forget = onExitCleanup(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk));
    child.once('exit', (code) => {
      forget();
      const line = out.split('\n').find((l) => l.includes('"rebuild done"'));
      if (code === 0 && line !== undefined) resolve(JSON.parse(line) as Record<string, unknown>);
      else reject(new Error(`rebuild exited with ${code}:\n${out}`));
    });
  });
}

/** A deterministic pseudo-random source (mulberry32), so a failure can be replayed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const openidOf = (tag: string, u: number) => `o${RUN}${tag}_${u}`;

const BASE = Date.UTC(2025, 4, 1, 12);

/** The i-th kind of event of a user, with amounts derived from (u, k). */
function payloadFor(u: number, k: number): BehaviourPayloadInit {
  const amount = ((u * 7 + k * 13) % 1000) + 1;
  switch ((u + k) % 11) {
    case 0:
      return { case: 'userLoggedIn', value: { sessionId: `s${k}` } };
    case 1:
      return { case: 'phoneNumberBound', value: { countryCode: '86' } };
    case 2:
      return { case: 'oauthAuthorized', value: { scopes: ['snsapi_base'] } };
    case 3:
      return { case: 'sessionStarted', value: { sessionId: `s${k}` } };
    case 4:
      return { case: 'sessionEnded', value: { sessionId: `s${k}`, reason: 1 } };
    case 5:
      return { case: 'messageDelivered', value: { deliveryId: `d${k}`, messageId: `m${k}`, attempts: 1 } };
    case 6:
      return { case: 'messageFailed', value: { deliveryId: `d${k}`, messageId: `m${k}`, attempts: 3 } };
    case 7:
      return { case: 'orderCreated', value: { outTradeNo: `t${k}`, amountTotal: amount, currency: 'CNY' } };
    case 8:
      return {
        case: 'paymentSucceeded',
        value: { outTradeNo: `t${k}`, transactionId: `x${k}`, amountTotal: amount, payerTotal: amount },
      };
    case 9:
      return {
        case: 'refundSucceeded',
        value: { outTradeNo: `t${k}`, outRefundNo: `r${k}`, refundAmount: amount },
      };
    default:
      return { case: 'userOnline', value: { replicaId: 'r', channelId: `c${k}` } };
  }
}

/**
 * `perUser` distinct events for each of `users` users (occurred_at shuffled over four days, so
 * arrival order is not time order), in arrival order, with a copy of a random earlier event
 * after every `dupEvery`-th distinct one (a producer re-emit: same event_id).
 */
export function generateEvents(opts: {
  tag: string;
  users: number;
  perUser: number;
  dupEvery: number;
  seed: number;
  userOffset?: number;
}): { records: BehaviourEvent[]; distinct: BehaviourEvent[] } {
  const random = seeded(opts.seed);
  const distinct: BehaviourEvent[] = [];
  const records: BehaviourEvent[] = [];
  for (let k = 0; k < opts.perUser; k++) {
    for (let i = 0; i < opts.users; i++) {
      const u = i + (opts.userOffset ?? 0);
      const event = behaviourEvent({
        eventId: `${RUN}${opts.tag}-${u}-${k}`,
        aggregateId: `user:${u}`,
        occurredAt: BASE + Math.floor(random() * 4 * 86_400_000),
        producer: 'test',
        wechat: {
          openid: openidOf(opts.tag, u),
          appid: APPS[(u + k) % 2],
          ...(u % 3 === 0 && k % 2 === 0 ? { unionid: `un_${u}_${k}` } : {}),
        },
        payload: payloadFor(u, k),
      });
      distinct.push(event);
      records.push(event);
      if (distinct.length % opts.dupEvery === 0)
        records.push(distinct[Math.floor(random() * distinct.length)]!);
    }
  }
  return { records, distinct };
}

const CASE_NAMES: Record<string, string> = {
  userLoggedIn: 'user_logged_in',
  phoneNumberBound: 'phone_number_bound',
  oauthAuthorized: 'oauth_authorized',
  sessionStarted: 'session_started',
  sessionEnded: 'session_ended',
  userOnline: 'user_online',
  userOffline: 'user_offline',
  messageDelivered: 'message_delivered',
  messageFailed: 'message_failed',
  orderCreated: 'order_created',
  paymentSucceeded: 'payment_succeeded',
  refundSucceeded: 'refund_succeeded',
  paymentAnomalyDetected: 'payment_anomaly_detected',
};

/** The journeys the distinct events must fold into: an independent model of the projection. */
export function expectedJourneys(distinct: readonly BehaviourEvent[]): Map<string, ExpectedJourney> {
  const journeys = new Map<string, ExpectedJourney>();
  const later = (at: number, id: string, at2: number, id2: string) => at > at2 || (at === at2 && id > id2);
  for (const e of distinct) {
    const openid = e.wechat!.openid;
    const at = timestampMs(e.occurredAt!);
    let j = journeys.get(openid);
    if (j === undefined) {
      j = {
        openid,
        appid: '',
        unionid: '',
        first: at,
        last: at,
        lastId: '',
        lastType: '',
        appidAt: -1,
        appidId: '',
        unionAt: -1,
        unionId: '',
        loginCount: 0,
        phoneBound: false,
        oauthAuthorized: false,
        sessionsStarted: 0,
        sessionsEnded: 0,
        messagesReceived: 0,
        messagesFailed: 0,
        ordersCreated: 0,
        ordersPaid: 0,
        paidTotal: 0n,
        refunds: 0,
        refundedTotal: 0n,
        eventIds: new Set(),
      };
      journeys.set(openid, j);
    }
    j.eventIds.add(e.eventId);
    j.first = Math.min(j.first, at);
    if (j.lastId === '' || later(at, e.eventId, j.last, j.lastId)) {
      j.last = at;
      j.lastId = e.eventId;
      j.lastType = CASE_NAMES[e.payload.case!]!;
    }
    if (e.wechat!.appid !== '' && later(at, e.eventId, j.appidAt, j.appidId)) {
      j.appid = e.wechat!.appid;
      j.appidAt = at;
      j.appidId = e.eventId;
    }
    if (e.wechat!.unionid !== '' && later(at, e.eventId, j.unionAt, j.unionId)) {
      j.unionid = e.wechat!.unionid;
      j.unionAt = at;
      j.unionId = e.eventId;
    }
    const p = e.payload;
    if (p.case === 'userLoggedIn') j.loginCount++;
    else if (p.case === 'phoneNumberBound') j.phoneBound = true;
    else if (p.case === 'oauthAuthorized') j.oauthAuthorized = true;
    else if (p.case === 'sessionStarted') j.sessionsStarted++;
    else if (p.case === 'sessionEnded') j.sessionsEnded++;
    else if (p.case === 'messageDelivered') j.messagesReceived++;
    else if (p.case === 'messageFailed') j.messagesFailed++;
    else if (p.case === 'orderCreated') j.ordersCreated++;
    else if (p.case === 'paymentSucceeded') {
      j.ordersPaid++;
      j.paidTotal += BigInt(p.value.payerTotal);
    } else if (p.case === 'refundSucceeded') {
      j.refunds++;
      j.refundedTotal += BigInt(p.value.refundAmount);
    }
  }
  return journeys;
}

export interface ExpectedJourney {
  openid: string;
  appid: string;
  unionid: string;
  first: number;
  last: number;
  lastId: string;
  lastType: string;
  appidAt: number;
  appidId: string;
  unionAt: number;
  unionId: string;
  loginCount: number;
  phoneBound: boolean;
  oauthAuthorized: boolean;
  sessionsStarted: number;
  sessionsEnded: number;
  messagesReceived: number;
  messagesFailed: number;
  ordersCreated: number;
  ordersPaid: number;
  paidTotal: bigint;
  refunds: number;
  refundedTotal: bigint;
  eventIds: Set<string>;
}

/** The served journey in the model's terms, for a deepEqual with the model. */
export function comparable(j: UserJourney) {
  return {
    openid: j.openid,
    appid: j.appid,
    unionid: j.unionid,
    first: j.firstSeenAt === undefined ? undefined : timestampMs(j.firstSeenAt),
    last: j.lastSeenAt === undefined ? undefined : timestampMs(j.lastSeenAt),
    lastId: j.lastEvent?.eventId,
    lastType: j.lastEvent?.eventType,
    loginCount: j.loginCount,
    phoneBound: j.phoneBound,
    oauthAuthorized: j.oauthAuthorized,
    sessionsStarted: j.sessionsStarted,
    sessionsEnded: j.sessionsEnded,
    messagesReceived: j.messagesReceived,
    messagesFailed: j.messagesFailed,
    ordersCreated: j.ordersCreated,
    ordersPaid: j.ordersPaid,
    paidTotal: j.paidTotal,
    refunds: j.refunds,
    refundedTotal: j.refundedTotal,
  };
}

export function comparableExpected(j: ExpectedJourney) {
  return {
    openid: j.openid,
    appid: j.appid,
    unionid: j.unionid,
    first: j.first,
    last: j.last,
    lastId: j.lastId,
    lastType: j.lastType,
    loginCount: j.loginCount,
    phoneBound: j.phoneBound,
    oauthAuthorized: j.oauthAuthorized,
    sessionsStarted: j.sessionsStarted,
    sessionsEnded: j.sessionsEnded,
    messagesReceived: j.messagesReceived,
    messagesFailed: j.messagesFailed,
    ordersCreated: j.ordersCreated,
    ordersPaid: j.ordersPaid,
    paidTotal: j.paidTotal,
    refunds: j.refunds,
    refundedTotal: j.refundedTotal,
  };
}

/** Every key under `prefix` with its type and content, keyed by the rest of its name. */
export async function dumpKeys(redis: Redis, prefix: string): Promise<Map<string, unknown>> {
  const names: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
    cursor = next;
    names.push(...found);
  } while (cursor !== '0');
  const dump = new Map<string, unknown>();
  for (let i = 0; i < names.length; i += 1000) {
    const slice = names.slice(i, i + 1000);
    const types = (await redis.pipeline(slice.map((k) => ['type', k])).exec())!.map(([, t]) => t as string);
    const reads = slice.map((k, n) =>
      types[n] === 'hash' ? ['hgetall', k] : types[n] === 'set' ? ['smembers', k] : ['get', k],
    );
    const values = (await redis.pipeline(reads).exec())!;
    slice.forEach((k, n) => {
      const value = values[n]![1];
      dump.set(k.slice(prefix.length), {
        type: types[n],
        value: Array.isArray(value) ? [...(value as string[])].sort() : value,
      });
    });
  }
  return dump;
}

/** Calls `fn` on every item with at most `limit` in flight. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** Every key under `prefix` as {@link dumpKeys} reads it, sorted by name, and deletes them. */
export async function takeKeys(redis: Redis, prefix: string): Promise<Record<string, unknown>> {
  const keys = await dumpKeys(redis, prefix);
  if (keys.size > 0) await redis.unlink(...[...keys.keys()].map((k) => prefix + k));
  return Object.fromEntries([...keys].sort(([a], [b]) => (a < b ? -1 : 1)));
}
