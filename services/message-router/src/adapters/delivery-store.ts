import type { RedisClient } from '@wxmesh/redis';
import {
  isTerminal,
  PRIORITIES,
  type Delivery,
  type DeliveryChannel,
  type DeliveryError,
  type DeliveryPriority,
  type DeliveryState,
  type SubscribeContent,
} from '../domain/delivery.js';
import {
  channelCode,
  decodeDelivery,
  encodeError,
  encodeNewDelivery,
  encodeStep,
  priorityCode,
} from './delivery-codec.js';
import { CREATE_LUA, MOVE_LUA, PROMOTE_LUA, REPLAY_LUA, START_LUA } from './delivery-lua.js';

const PREFIX = 'wxm:router:{q}:';
const GROUP = 'senders';
const KEYS = {
  delivery: (id: string) => `${PREFIX}d:${id}`,
  history: (id: string) => `${PREFIX}h:${id}`,
  stream: (priority: DeliveryPriority) => `${PREFIX}queue:${priority.toLowerCase()}`,
  delayed: `${PREFIX}delayed`,
  dead: `${PREFIX}dead`,
  owed: `${PREFIX}owed`,
};
const STREAMS = PRIORITIES.map(KEYS.stream);

/** A delivery to create; `state` is QUEUED (subscribe), SENDING (in-app, being pushed) or FAILED. */
export interface NewDelivery {
  readonly deliveryId: string;
  readonly appid: string;
  readonly openid: string;
  readonly messageId: string;
  readonly channel: DeliveryChannel;
  readonly priority: DeliveryPriority;
  readonly state: 'QUEUED' | 'SENDING' | 'FAILED';
  readonly subscribe?: SubscribeContent;
  readonly error?: DeliveryError;
}

/** A job read from the send queue by `consumer`. */
export interface QueuedJob {
  readonly deliveryId: string;
  readonly entryId: string;
  readonly stream: string;
  readonly consumer: string;
}

/** A state transition; see {@link DeliveryStore.move}. */
export interface Transition {
  readonly from: DeliveryState;
  /** The attempt the mover started (fencing); undefined = any. */
  readonly attempts?: number;
  readonly to: DeliveryState;
  readonly channel: DeliveryChannel;
  readonly at: number;
  readonly error?: DeliveryError;
  /** RETRY_SCHEDULED: when the job is due again. */
  readonly retryAt?: number;
  /** The queue entry this transition finishes. */
  readonly job?: QueuedJob;
  /** Put the delivery (now QUEUED) on its priority's stream. */
  readonly enqueue?: DeliveryPriority;
  /** The priority the delayed retry returns to. */
  readonly priority?: DeliveryPriority;
  /** Reset the attempts counter (a channel switch starts the subscribe message's own budget). */
  readonly resetAttempts?: boolean;
}

type Reply = Array<string | number>;
type Scripts = Record<
  'routerCreate' | 'routerStart' | 'routerMove' | 'routerPromote' | 'routerReplay',
  (...args: (string | number)[]) => Promise<unknown>
>;

/**
 * The router's delivery keyspace and send queue in Redis (all in the `{q}` slot): one hash and
 * one history list per delivery, a stream per priority read by the `senders` consumer group, a
 * sorted set of delayed retries, a dead-letter stream, and the set of behaviour events still
 * owed to Kafka. Every state change is one Lua script that also moves the job, so a crash between
 * steps can neither lose a job nor run it twice.
 */
export function createDeliveryStore(
  redis: RedisClient,
  options: {
    maxDepth: number;
    retentionMs: number;
    /** A connection of its own for blocking reads (a blocked XREADGROUP holds its connection). */
    reader?: RedisClient;
  },
) {
  defineScripts(redis);
  const ctx: StoreContext = {
    redis,
    reader: options.reader ?? redis,
    scripts: redis as unknown as Scripts,
    options,
  };
  const bound =
    <A extends unknown[], R>(fn: (context: StoreContext, ...args: A) => R) =>
    (...args: A): R =>
      fn(ctx, ...args);

  return {
    keys: KEYS,
    group: GROUP,
    streams: STREAMS,
    init: bound(init),
    create: bound(create),
    appOf: bound(appOf),
    get: bound(get),
    start: bound(start),
    move: bound(move),
    promoteDue: bound(promoteDue),
    read: bound(read),
    reclaim: bound(reclaim),
    depth: bound(depth),
    deadLetters: bound(deadLetters),
    replay: bound(replay),
    owedEvents: bound(owedEvents),
    eventsPublished: bound(eventsPublished),
  };
}

/** What every store operation works with. */
interface StoreContext {
  readonly redis: RedisClient;
  readonly reader: RedisClient;
  readonly scripts: Scripts;
  readonly options: { readonly maxDepth: number; readonly retentionMs: number };
}

/** Creates group and streams if missing; call once at start. */
async function init(ctx: StoreContext): Promise<void> {
  for (const stream of STREAMS) {
    await ctx.redis.xgroup('CREATE', stream, GROUP, '0', 'MKSTREAM').catch((err: Error) => {
      if (!err.message.includes('BUSYGROUP')) throw err;
    });
  }
}

/**
 * Creates deliveries that do not exist yet (a repeat of a delivery id changes nothing) and
 * queues the QUEUED ones. Returns each delivery's state and channel now, or `full` when the
 * queue cannot take them (nothing was written).
 */
async function create(
  ctx: StoreContext,
  deliveries: readonly NewDelivery[],
  now: number,
): Promise<
  | { full: true; depth: number }
  | {
      full: false;
      states: Array<{ state: DeliveryState; channel: DeliveryChannel; created: boolean; updatedAt: number }>;
    }
> {
  const keys = [...STREAMS, KEYS.delayed, KEYS.owed];
  const args: string[] = [String(ctx.options.maxDepth)];
  for (const d of deliveries) {
    keys.push(KEYS.delivery(d.deliveryId), KEYS.history(d.deliveryId));
    const step = encodeStep({
      state: d.state,
      at: now,
      attempt: d.state === 'SENDING' ? 1 : 0,
      channel: d.channel,
      error: d.error,
    });
    const fields = encodeNewDelivery({ ...d, attempts: d.state === 'SENDING' ? 1 : 0, createdAt: now });
    args.push(d.deliveryId, JSON.stringify(fields), step);
  }
  args.push(String(ctx.options.retentionMs));
  const reply = (await ctx.scripts.routerCreate(keys.length, ...keys, ...args)) as Reply;
  if (reply[0] === 'FULL') return { full: true, depth: Number(reply[1]) };
  const states = deliveries.map((_, i) => ({
    state: reply[1 + 4 * i] as DeliveryState,
    channel: (reply[2 + 4 * i] === 'I' ? 'IN_APP' : 'SUBSCRIBE') as DeliveryChannel,
    created: reply[3 + 4 * i] === '1',
    updatedAt: reply[3 + 4 * i] === '1' ? now : Number(reply[4 + 4 * i]),
  }));
  return { full: false, states };
}

/** The app a delivery sends for (read before its attempt starts, for the app's rate limit). */
async function appOf(ctx: StoreContext, deliveryId: string): Promise<string | undefined> {
  return (await ctx.redis.hget(KEYS.delivery(deliveryId), 'a')) ?? undefined;
}

/** The delivery with its history, or undefined. */
async function get(ctx: StoreContext, deliveryId: string): Promise<Delivery | undefined> {
  const [hash, history] = await Promise.all([
    ctx.redis.hgetall(KEYS.delivery(deliveryId)),
    ctx.redis.lrange(KEYS.history(deliveryId), 0, -1),
  ]);
  return Object.keys(hash).length === 0 ? undefined : decodeDelivery(deliveryId, hash, history);
}

/**
 * Starts a send attempt for a queued job: `send` with the delivery (attempts already counted),
 * `done` when it needs nothing more (acknowledged), `lost` when another consumer has taken
 * the job over (this one held it past the claim idle time), `ambiguous` when a dead worker
 * left it mid-send.
 */
async function start(
  ctx: StoreContext,
  job: QueuedJob,
  now: number,
): Promise<
  | { kind: 'send'; delivery: Delivery }
  | { kind: 'done' }
  | { kind: 'lost' }
  | { kind: 'ambiguous'; attempts: number }
> {
  const reply = (await ctx.scripts.routerStart(
    3,
    KEYS.delivery(job.deliveryId),
    KEYS.history(job.deliveryId),
    job.stream,
    job.entryId,
    GROUP,
    String(now),
    job.consumer,
  )) as Reply;
  if (reply[0] === 'LOST') return { kind: 'lost' };
  if (reply[0] === 'DONE') return { kind: 'done' };
  if (reply[0] === 'AMBIGUOUS') return { kind: 'ambiguous', attempts: Number(reply[1]) };
  const hash: Record<string, string> = {};
  for (let i = 2; i < reply.length; i += 2) hash[String(reply[i])] = String(reply[i + 1]);
  return { kind: 'send', delivery: decodeDelivery(job.deliveryId, hash, []) };
}

/**
 * One transition with its queue effects (acknowledge the job, schedule the retry, dead-letter,
 * enqueue, owe the terminal event, expire a terminal delivery after the retention). `stale`
 * when the delivery was no longer in `from` (at `attempts`): someone else owns it now.
 */
async function move(
  ctx: StoreContext,
  deliveryId: string,
  t: Transition,
): Promise<'ok' | 'stale' | 'missing'> {
  const fields: string[] = ['ua', String(t.at)];
  if (t.error) fields.push(...encodeError(t.error));
  if (t.to === 'DELIVERED') fields.push('da', String(t.at));
  if (t.retryAt !== undefined) fields.push('na', String(t.retryAt));
  fields.push('c', channelCode(t.channel));
  if (t.resetAttempts) fields.push('n', '0');
  const attempt = t.resetAttempts ? 0 : (t.attempts ?? 0);
  const owed =
    t.to === 'DELIVERED' ? 'delivered' : t.to === 'FAILED' || t.to === 'DEAD_LETTERED' ? 'failed' : '';
  const reply = await ctx.scripts.routerMove(
    7,
    KEYS.delivery(deliveryId),
    KEYS.history(deliveryId),
    t.job?.stream ?? STREAMS[1]!,
    KEYS.delayed,
    KEYS.dead,
    KEYS.owed,
    KEYS.stream(t.enqueue ?? 'NORMAL'),
    t.from,
    t.attempts === undefined ? '' : String(t.attempts),
    t.job?.entryId ?? '',
    GROUP,
    t.to,
    JSON.stringify(fields),
    encodeStep({ state: t.to, at: t.at, attempt, channel: t.channel, error: t.error }),
    t.retryAt === undefined ? '' : String(t.retryAt),
    t.to === 'DEAD_LETTERED' ? (t.error?.message ?? 'dead-lettered') : '',
    owed,
    t.enqueue ? '1' : '',
    isTerminal(t.to) ? String(ctx.options.retentionMs) : '',
    deliveryId,
    priorityCode(t.priority ?? 'NORMAL'),
  );
  return reply === 'OK' ? 'ok' : reply === 'STALE' ? 'stale' : 'missing';
}

/** Moves due retries onto their streams; returns how many. */
async function promoteDue(ctx: StoreContext, now: number, limit = 500): Promise<number> {
  return Number(await ctx.scripts.routerPromote(4, KEYS.delayed, ...STREAMS, String(now), String(limit)));
}

/**
 * Reads up to `count` new jobs for `consumer`, highest priority first; blocks up to `blockMs`
 * only when every stream is empty.
 */
async function read(
  ctx: StoreContext,
  consumer: string,
  count: number,
  blockMs: number,
): Promise<QueuedJob[]> {
  const jobs: QueuedJob[] = [];
  for (const stream of STREAMS) {
    if (jobs.length >= count) break;
    const reply = (await ctx.redis.xreadgroup(
      'GROUP',
      GROUP,
      consumer,
      'COUNT',
      count - jobs.length,
      'STREAMS',
      stream,
      '>',
    )) as StreamReply;
    jobs.push(...toJobs(reply, consumer));
  }
  if (jobs.length > 0 || blockMs <= 0) return jobs;
  const reply = (await ctx.reader.xreadgroup(
    'GROUP',
    GROUP,
    consumer,
    'COUNT',
    count,
    'BLOCK',
    blockMs,
    'STREAMS',
    ...STREAMS,
    ...STREAMS.map(() => '>'),
  )) as StreamReply;
  return toJobs(reply, consumer);
}

/** Takes over jobs another consumer has held for more than `minIdleMs` (it died). */
async function reclaim(
  ctx: StoreContext,
  consumer: string,
  minIdleMs: number,
  count: number,
): Promise<QueuedJob[]> {
  const jobs: QueuedJob[] = [];
  for (const stream of STREAMS) {
    if (jobs.length >= count) break;
    const reply = (await ctx.redis.xautoclaim(
      stream,
      GROUP,
      consumer,
      minIdleMs,
      '0-0',
      'COUNT',
      count - jobs.length,
    )) as [string, Array<[string, string[]] | null>];
    for (const entry of reply[1])
      if (entry) jobs.push({ stream, entryId: entry[0], deliveryId: field(entry[1], 'id'), consumer });
  }
  return jobs;
}

/** Replays one dead letter: the delivery goes back to QUEUED with a fresh attempts budget. */
async function replay(
  ctx: StoreContext,
  entryId: string,
  deliveryId: string,
  priority: DeliveryPriority,
  now: number,
): Promise<boolean> {
  const step = encodeStep({ state: 'QUEUED', at: now, attempt: 0, channel: 'SUBSCRIBE' });
  const reply = await ctx.scripts.routerReplay(
    5,
    KEYS.delivery(deliveryId),
    KEYS.history(deliveryId),
    KEYS.dead,
    KEYS.stream(priority),
    KEYS.owed,
    entryId,
    String(now),
    deliveryId,
    step,
  );
  return reply === 'OK';
}

/** Marks events as acknowledged by Kafka. */
async function eventsPublished(ctx: StoreContext, members: readonly string[]): Promise<void> {
  if (members.length > 0) await ctx.redis.srem(KEYS.owed, ...members);
}

export type DeliveryStore = ReturnType<typeof createDeliveryStore>;

type StreamReply = Array<[string, Array<[string, string[]]>]> | null;

function toJobs(reply: StreamReply, consumer: string): QueuedJob[] {
  return (reply ?? []).flatMap(([stream, entries]) =>
    entries.map(([entryId, fields]) => ({ stream, entryId, deliveryId: field(fields, 'id'), consumer })),
  );
}

function field(fields: string[], name: string): string {
  const i = fields.indexOf(name);
  return i >= 0 && i % 2 === 0 ? (fields[i + 1] ?? '') : '';
}

function defineScripts(redis: RedisClient): void {
  const scripts: Array<[keyof Scripts, string]> = [
    ['routerCreate', CREATE_LUA],
    ['routerStart', START_LUA],
    ['routerMove', MOVE_LUA],
    ['routerPromote', PROMOTE_LUA],
    ['routerReplay', REPLAY_LUA],
  ];
  for (const [name, lua] of scripts) if (!(name in redis)) redis.defineCommand(name, { lua });
}

/** Jobs waiting or in flight (streams) plus delayed retries, and the oldest waiting job's age. */
async function depth(
  ctx: StoreContext,
  now: number,
): Promise<{ queued: number; delayed: number; deadLetters: number; oldestAgeMs: number }> {
  const pipeline = ctx.redis.pipeline();
  for (const stream of STREAMS) pipeline.xlen(stream);
  for (const stream of STREAMS) pipeline.xrange(stream, '-', '+', 'COUNT', 1);
  pipeline.zcard(KEYS.delayed);
  pipeline.xlen(KEYS.dead);
  const results = ((await pipeline.exec()) ?? []).map(([err, value]) => {
    if (err) throw err;
    return value;
  });
  const queued = STREAMS.reduce((sum, _, i) => sum + Number(results[i]), 0);
  const oldest = STREAMS.flatMap((_, i) =>
    (results[STREAMS.length + i] as Array<[string]>).map(([id]) => Number(id.split('-')[0])),
  );
  return {
    queued,
    delayed: Number(results[2 * STREAMS.length]),
    deadLetters: Number(results[2 * STREAMS.length + 1]),
    oldestAgeMs: oldest.length === 0 ? 0 : Math.max(0, now - Math.min(...oldest)),
  };
}

/** Dead letters, oldest first: the entry id, the delivery and why. */
async function deadLetters(
  ctx: StoreContext,
  count: number,
): Promise<Array<{ entryId: string; deliveryId: string; reason: string }>> {
  const entries = (await ctx.redis.xrange(KEYS.dead, '-', '+', 'COUNT', count)) as Array<[string, string[]]>;
  return entries.map(([entryId, f]) => ({
    entryId,
    deliveryId: field(f, 'id'),
    reason: field(f, 'reason'),
  }));
}

/** Up to `count` behaviour events still owed to Kafka, as `{deliveryId, kind}`. */
async function owedEvents(
  ctx: StoreContext,
  count: number,
): Promise<Array<{ member: string; deliveryId: string; kind: 'routed' | 'delivered' | 'failed' }>> {
  const members = (await ctx.redis.srandmember(KEYS.owed, count)) as string[];
  return members.map((member) => {
    const at = member.lastIndexOf('|');
    return {
      member,
      deliveryId: member.slice(0, at),
      kind: member.slice(at + 1) as 'routed' | 'delivered' | 'failed',
    };
  });
}
