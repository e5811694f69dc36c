import { SessionEndedSchema } from '@wxmesh/contracts';
import { BEHAVIOUR_TOPIC, decodeBehaviourEvent, type EventsLogger } from '@wxmesh/events';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';

const SESSION_ENDED_TYPE = SessionEndedSchema.typeName;

/** Options of {@link createSessionEndedFeed}. */
export interface SessionEndedFeedOptions {
  kafka: Kafka;
  /** Must be unique to this process: a second member of the group would take half the partitions. */
  groupId: string;
  /**
   * How long the feed may go without a completed fetch (or with one fetch outstanding) before it
   * counts as down. Fetches long-poll for a third of it (at most 1 s), so a quiet topic stays healthy.
   */
  staleMs: number;
  now: () => number;
  /** A SessionEnded record arrived for this session id. */
  onSessionEnded(sessionId: string): void;
  /** The feed is healthy and has proven it up to `until` (epoch ms of `now`). */
  onFresh(until: number): void;
  /** The feed lost (or may have lost) events: joined again, crashed, stopped, or went stale. */
  onDown(reason: string): void;
  logger: EventsLogger;
  /** Default {@link BEHAVIOUR_TOPIC}; only tests change it. */
  topic?: string;
}

/** A running feed; see {@link createSessionEndedFeed}. */
export interface SessionEndedFeed {
  /** Connects and starts consuming; resolves before the group is joined (health follows). */
  start(): Promise<void>;
  /** Leaves the group and disconnects; the feed reports down. */
  stop(): Promise<void>;
}

/** What the feed knows about its own health; see {@link createSessionEndedFeed} for the rules. */
interface FeedHealth {
  readonly groupId: string;
  readonly staleMs: number;
  readonly now: () => number;
  readonly logger: EventsLogger;
  readonly onFresh: (until: number) => void;
  readonly onDown: (reason: string) => void;
  /** Joined the group with partitions of the topic assigned. */
  joined: boolean;
  /** When the last fetch completed (`now` ms); -Infinity after a loss. */
  lastFetch: number;
  /** Node id -> start of its unanswered fetch. */
  readonly outstanding: Map<number, number>;
  /** Last reported state: fresh (onFresh) or down (onDown). */
  fresh: boolean;
}

/**
 * A private kafkajs consumer of the behaviour topic that reports every SessionEnded, for the
 * session-token cache of this one process.
 *
 * Each process has its own consumer group, so it sees every partition. It starts at the latest
 * offset and commits nothing: after any (re)join kafkajs starts from the latest offset again, so
 * events in between are never seen, which is why every GROUP_JOIN reports down (the cache clears).
 * Only records whose `event-type` header names SessionEnded are decoded; a record without the
 * header is decoded to find out.
 *
 * Health comes from kafkajs instrumentation: the feed is fresh after a FETCH completes while
 * joined with partitions assigned, until `staleMs` after the last completed fetch or after the
 * start of a fetch still outstanding (a broker that stopped answering leaves one hanging), and
 * down on REBALANCING, CRASH, DISCONNECT and STOP. A timer reports staleness even when no call
 * asks; a stale feed that fetches again (the same group member, nothing skipped) is fresh again.
 */
export function createSessionEndedFeed(options: SessionEndedFeedOptions): SessionEndedFeed {
  const { kafka, groupId, staleMs, now, logger } = options;
  const topic = options.topic ?? BEHAVIOUR_TOPIC;
  if (!Number.isSafeInteger(staleMs) || staleMs < 1)
    throw new Error(`createSessionEndedFeed: staleMs must be a positive integer, got ${staleMs}`);
  const consumer = kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: Math.max(50, Math.min(1_000, Math.floor(staleMs / 3))),
    // A feed that gives up leaves the cache bypassed for good; keep trying.
    retry: { restartOnFailure: async () => true },
  });
  const health: FeedHealth = {
    groupId,
    staleMs,
    now,
    logger,
    onFresh: (until) => options.onFresh(until),
    onDown: (reason) => options.onDown(reason),
    joined: false,
    lastFetch: Number.NEGATIVE_INFINITY,
    outstanding: new Map(),
    fresh: false,
  };
  followConsumerHealth(consumer, health, topic);
  const staleCheck = setInterval(
    () => reportIfStale(health),
    Math.max(20, Math.min(250, Math.floor(staleMs / 4))),
  );
  staleCheck.unref();

  return {
    async start() {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: false });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) applyRecord(message, options);
        },
      });
    },
    async stop() {
      clearInterval(staleCheck);
      await consumer.disconnect();
      loseGroup(health, 'stopped');
    },
  };
}

/** Derives the feed's health from the consumer's instrumentation events. */
function followConsumerHealth(consumer: Consumer, health: FeedHealth, topic: string): void {
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    loseGroup(health, 'joined the group again');
    health.joined = (payload.memberAssignment[topic]?.length ?? 0) > 0;
    if (!health.joined)
      health.logger.warn({ groupId: health.groupId, topic }, 'session-ended feed joined with no partitions');
  });
  for (const event of [
    consumer.events.REBALANCING,
    consumer.events.CRASH,
    consumer.events.DISCONNECT,
    consumer.events.STOP,
  ]) {
    consumer.on(event, () => loseGroup(health, event));
  }
  consumer.on(consumer.events.FETCH_START, ({ payload }) => {
    if (health.joined && !health.outstanding.has(payload.nodeId))
      health.outstanding.set(payload.nodeId, health.now());
  });
  consumer.on(consumer.events.FETCH, ({ payload }) => {
    recordFetch(health, (payload as { nodeId: number }).nodeId);
  });
}

/** Until when the feed has proven it saw everything: `staleMs` after its oldest open question. */
function provenUntil(health: FeedHealth): number {
  let until = health.lastFetch + health.staleMs;
  for (const started of health.outstanding.values()) until = Math.min(until, started + health.staleMs);
  return until;
}

/** A completed fetch while joined: fresh until {@link provenUntil}, if that is still ahead. */
function recordFetch(health: FeedHealth, nodeId: number): void {
  if (!health.joined) return;
  health.outstanding.delete(nodeId);
  health.lastFetch = health.now();
  const until = provenUntil(health);
  if (until <= health.now()) return;
  if (!health.fresh)
    health.logger.info(
      { groupId: health.groupId },
      'session-ended feed healthy; session-token cache serving',
    );
  health.fresh = true;
  health.onFresh(until);
}

function reportIfStale(health: FeedHealth): void {
  if (health.fresh && provenUntil(health) <= health.now())
    reportDown(health, `no fetch for ${health.staleMs} ms`);
}

function reportDown(health: FeedHealth, reason: string): void {
  if (health.fresh)
    health.logger.warn(
      { groupId: health.groupId, reason },
      'session-ended feed down; session-token cache cleared and bypassed',
    );
  health.fresh = false;
  health.onDown(reason);
}

/** The group membership is gone (or new): nothing fetched so far proves anything any more. */
function loseGroup(health: FeedHealth, reason: string): void {
  health.joined = false;
  health.lastFetch = Number.NEGATIVE_INFINITY;
  health.outstanding.clear();
  reportDown(health, reason);
}

/** Reports the record if it is a SessionEnded; other event types are skipped without decoding. */
function applyRecord(message: KafkaMessage, options: SessionEndedFeedOptions): void {
  const type = message.headers?.['event-type'];
  if (type !== undefined && String(type) !== SESSION_ENDED_TYPE) return;
  if (message.value === null) return;
  try {
    const event = decodeBehaviourEvent(message.value);
    if (event.payload.case === 'sessionEnded') options.onSessionEnded(event.payload.value.sessionId);
  } catch (err) {
    options.logger.warn(
      { err, groupId: options.groupId, offset: message.offset },
      'undecodable behaviour record skipped',
    );
  }
}
