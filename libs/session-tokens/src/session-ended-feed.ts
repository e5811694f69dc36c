import { SessionEndedSchema } from '@wxmesh/contracts';
import { BEHAVIOUR_TOPIC, decodeBehaviourEvent, type EventsLogger } from '@wxmesh/events';
import type { Kafka, KafkaMessage } from 'kafkajs';

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

  let joined = false;
  let lastFetch = Number.NEGATIVE_INFINITY;
  const outstanding = new Map<number, number>(); // node id -> start of its unanswered fetch
  let fresh = false;

  const provenUntil = () => {
    let until = lastFetch + staleMs;
    for (const started of outstanding.values()) until = Math.min(until, started + staleMs);
    return until;
  };

  const down = (reason: string) => {
    if (fresh)
      logger.warn({ groupId, reason }, 'session-ended feed down; session-token cache cleared and bypassed');
    fresh = false;
    options.onDown(reason);
  };

  const lost = (reason: string) => {
    joined = false;
    lastFetch = Number.NEGATIVE_INFINITY;
    outstanding.clear();
    down(reason);
  };

  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    lost('joined the group again');
    joined = (payload.memberAssignment[topic]?.length ?? 0) > 0;
    if (!joined) logger.warn({ groupId, topic }, 'session-ended feed joined with no partitions');
  });
  for (const event of [
    consumer.events.REBALANCING,
    consumer.events.CRASH,
    consumer.events.DISCONNECT,
    consumer.events.STOP,
  ]) {
    consumer.on(event, () => lost(event));
  }
  consumer.on(consumer.events.FETCH_START, ({ payload }) => {
    if (joined && !outstanding.has(payload.nodeId)) outstanding.set(payload.nodeId, now());
  });
  consumer.on(consumer.events.FETCH, ({ payload }) => {
    if (!joined) return;
    outstanding.delete((payload as { nodeId: number }).nodeId);
    lastFetch = now();
    const until = provenUntil();
    if (until <= now()) return;
    if (!fresh) logger.info({ groupId }, 'session-ended feed healthy; session-token cache serving');
    fresh = true;
    options.onFresh(until);
  });

  const tick = setInterval(
    () => {
      if (fresh && provenUntil() <= now()) down(`no fetch for ${staleMs} ms`);
    },
    Math.max(20, Math.min(250, Math.floor(staleMs / 4))),
  );
  tick.unref();

  const apply = (message: KafkaMessage) => {
    const type = message.headers?.['event-type'];
    if (type !== undefined && String(type) !== SESSION_ENDED_TYPE) return;
    if (message.value === null) return;
    try {
      const event = decodeBehaviourEvent(message.value);
      if (event.payload.case === 'sessionEnded') options.onSessionEnded(event.payload.value.sessionId);
    } catch (err) {
      logger.warn({ err, groupId, offset: message.offset }, 'undecodable behaviour record skipped');
    }
  };

  return {
    async start() {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: false });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) apply(message);
        },
      });
    },
    async stop() {
      clearInterval(tick);
      await consumer.disconnect();
      lost('stopped');
    },
  };
}
