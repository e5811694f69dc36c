import { setTimeout as delay } from 'node:timers/promises';
import type { BehaviourEvent } from '@wxmesh/contracts';
import {
  behaviourEvent,
  InvalidBehaviourEventError,
  validateBehaviourEvent,
  type EventProducer,
} from '@wxmesh/events';
import type { Logger } from '@wxmesh/rpc';
import { registeredCounter } from '@wxmesh/telemetry';
import { register } from 'prom-client';
import type { InboundEntry, InboundStore } from '../adapters/inbound-store.js';
import type { SubscriptionStore } from '../adapters/subscription-store.js';
import {
  inboundEventId,
  InvalidPushError,
  readInboundPush,
  type InboundPush,
} from '../domain/push-message.js';

/** Options of {@link createInboundProcessor}. */
export interface InboundProcessorOptions {
  store: InboundStore;
  subscriptions: SubscriptionStore;
  producer: Pick<EventProducer, 'emit'>;
  logger: Logger;
  /** This replica's name in the consumer group; stable across restarts is best (e.g. the pod name). */
  consumerName: string;
  /** Entries pending longer than this (at a consumer that died or failed) are taken over. */
  claimIdleMs: number;
  now: () => number;
  /** Entries per read (default 64). */
  batchSize?: number;
  /** Longest wait of one blocking read (default 1000 ms); `stop()` can take this long. */
  blockMs?: number;
  /** Pause after a failed round, doubled per failure up to `maxPauseMs` (defaults 100 ms, 10 s). */
  minPauseMs?: number;
  maxPauseMs?: number;
}

/** Runs until stopped; see {@link createInboundProcessor}. */
export interface InboundProcessor {
  /** Starts the loop (once; a second call does nothing). */
  start(): void;
  /** Stops reading and resolves once the batch in hand is finished (or left pending). */
  stop(): Promise<void>;
}

const PRODUCER = 'message-router';

const processed = registeredCounter(register, {
  name: 'wxmesh_router_inbound_processed_total',
  help: 'Inbound stream entries processed, by outcome (done, dropped, failed).',
  labelNames: ['outcome'],
});

/**
 * Turns accepted pushes into their effects, after WeChat has had its answer. Each round takes
 * entries idle beyond `claimIdleMs` (a dead replica's, or ones whose processing failed) and new
 * entries, then per batch: records subscription answers, emits the behaviour events (one
 * acknowledged Kafka write), and only then XACKs and XDELs the entries. A failure leaves them
 * pending; the claim retries them. Event ids come from the appid and the dedupe key, so a retry
 * emits the same ids and consumers drop the copies. An entry that can never succeed (not a
 * push, an event the schema refuses) is logged and dropped rather than retried forever.
 * Redis or Kafka failures pause the loop, exponentially, never in a hot loop.
 */
export function createInboundProcessor(options: InboundProcessorOptions): InboundProcessor {
  const { store, logger, consumerName, claimIdleMs, now } = options;
  const batchSize = options.batchSize ?? 64;
  const blockMs = options.blockMs ?? 1000;
  const minPauseMs = options.minPauseMs ?? 100;
  const maxPauseMs = options.maxPauseMs ?? 10_000;
  const abort = new AbortController();
  let loop: Promise<void> | undefined;
  let nextClaimAt = 0;
  let claimCursor = '0-0';

  async function round(): Promise<void> {
    if (now() >= nextClaimAt) {
      const { entries: claimed, cursor } = await store.claim(
        consumerName,
        claimIdleMs,
        batchSize,
        claimCursor,
      );
      // Until the scan has gone round the pending list, page on next round; then rest half the idle time.
      claimCursor = cursor;
      nextClaimAt = cursor === '0-0' ? now() + Math.max(1, Math.floor(claimIdleMs / 2)) : 0;
      if (claimed.length > 0) {
        logger.info({ entries: claimed.length }, 'claimed idle inbound entries');
        await processBatch(claimed, options);
        return;
      }
    }
    const entries = await store.read(consumerName, batchSize, blockMs);
    if (entries.length > 0) await processBatch(entries, options);
  }

  async function run(): Promise<void> {
    await untilStopped(() => store.ensureGroup(), 'could not create the inbound consumer group');
    let failures = 0;
    while (!abort.signal.aborted) {
      try {
        await round();
        failures = 0;
      } catch (err) {
        if (abort.signal.aborted) break;
        failures++;
        if (isNoGroup(err)) await store.ensureGroup().catch(() => undefined);
        const pauseMs = Math.min(maxPauseMs, minPauseMs * 2 ** Math.min(failures - 1, 20));
        processed.inc({ outcome: 'failed' });
        logger.warn({ err: errorText(err), pauseMs }, 'inbound processing failed; entries stay pending');
        await pause(pauseMs);
      }
    }
  }

  async function untilStopped(step: () => Promise<void>, what: string): Promise<void> {
    for (let failures = 0; !abort.signal.aborted; failures++) {
      try {
        return await step();
      } catch (err) {
        logger.warn({ err: errorText(err) }, what);
        await pause(Math.min(maxPauseMs, minPauseMs * 2 ** Math.min(failures, 20)));
      }
    }
  }

  const pause = (ms: number) => delay(ms, undefined, { signal: abort.signal }).catch(() => undefined);

  return {
    start() {
      loop ??= run().catch((err: unknown) =>
        logger.error({ err: errorText(err) }, 'inbound processor stopped unexpectedly'),
      );
    },
    async stop() {
      abort.abort();
      await loop;
    },
  };
}

/** One batch: subscriptions, then events, then ack; entries that can never succeed are dropped. */
async function processBatch(entries: readonly InboundEntry[], options: InboundProcessorOptions) {
  const { subscriptions, producer, store, logger } = options;
  const events: BehaviourEvent[] = [];
  const dropped: string[] = [];
  for (const entry of entries) {
    const built = buildEntry(entry, logger);
    if (built === undefined) {
      dropped.push(entry.id);
      continue;
    }
    const { push, events: own } = built;
    if (push.subscriptionChanges.length > 0) {
      const at = push.createTime * 1000;
      const changes = push.subscriptionChanges.map((c) => ({ ...c, at }));
      await subscriptions.record(entry.appid, push.openid, changes);
    }
    events.push(...own);
  }
  await producer.emit(...events);
  await store.done(entries.map((e) => e.id));
  processed.inc({ outcome: 'done' }, entries.length - dropped.length);
  if (dropped.length > 0) processed.inc({ outcome: 'dropped' }, dropped.length);
}

/** The entry's push and events, or undefined (logged) when it can never become valid events. */
function buildEntry(entry: InboundEntry, logger: Logger) {
  try {
    const push = readInboundPush(entry.fields);
    return { push, events: eventsOf(entry.appid, entry.dedupeKey || push.dedupeKey, push) };
  } catch (err) {
    if (!(err instanceof InvalidPushError || err instanceof InvalidBehaviourEventError)) throw err;
    logger.error(
      { appid: entry.appid, entryId: entry.id, why: err.message },
      'inbound entry dropped: unusable',
    );
    return undefined;
  }
}

/** The behaviour events of one push, validated now so a bad one is dropped alone, not with its batch. */
function eventsOf(appid: string, dedupeKey: string, push: InboundPush): BehaviourEvent[] {
  return push.behaviours.map((payload, index) => {
    const event = behaviourEvent({
      eventId: inboundEventId(appid, dedupeKey, index),
      aggregateId: `user:${push.openid}`,
      occurredAt: push.createTime * 1000,
      producer: PRODUCER,
      wechat: { openid: push.openid, appid },
      payload,
    });
    validateBehaviourEvent(event);
    return event;
  });
}

function isNoGroup(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOGROUP');
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
