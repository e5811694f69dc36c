import type { EventConsumer, EventsLogger } from '@wxmesh/events';
import type { Admin, Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import type { ReadModelStore } from '../adapters/read-models.js';
import type { ProjectorConfig } from '../config.js';
import { createProjector } from './consume-events.js';

/** Options of {@link rebuildReadModels}. */
export interface RebuildOptions {
  kafka: Kafka;
  store: ReadModelStore;
  config: ProjectorConfig;
  /** The new generation's name (see `newGenerationId`). */
  generation: string;
  /** Make it active once caught up (default true); false leaves it beside the active one, for comparison. */
  swap?: boolean;
  /** After a swap, delete the replaced generation this long later (default 30 s); undefined keeps it. */
  dropPreviousAfterMs?: number;
  logger: EventsLogger;
  registry?: Registry;
  /** Progress log interval (default 5 s). */
  progressIntervalMs?: number;
}

/** What {@link rebuildReadModels} did. */
export interface RebuildResult {
  generation: string;
  swapped: boolean;
  /** The generation that was active before the swap (undefined without a swap or without one). */
  previous?: string;
  /** Per partition, the offset the rebuild replayed up to (the high watermark when it started). */
  replayedTo: Record<number, string>;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Registers `generation` as the shadow, dropping the shadow of an unfinished rebuild it replaces. */
async function beginShadow(store: ReadModelStore, generation: string, logger: EventsLogger): Promise<void> {
  const abandoned = await store.beginShadow(generation);
  if (abandoned !== undefined && abandoned !== generation) {
    const dropped = await store.dropGeneration(abandoned);
    logger.warn({ abandoned, dropped }, 'replaced the shadow generation of an unfinished rebuild');
  }
}

/** The high watermarks to replay up to, read after the shadow exists (see rebuildReadModels). */
async function replayTargets(admin: Admin, topic: string) {
  const offsets = await admin.fetchTopicOffsets(topic);
  return {
    partitions: offsets.filter((o) => BigInt(o.high) > BigInt(o.low)),
    replayedTo: Object.fromEntries(offsets.map((o) => [o.partition, o.high])) as Record<number, string>,
  };
}

/** Waits until the consumer's position reached every target's watermark, logging progress. */
async function waitUntilCaughtUp(
  consumer: EventConsumer,
  partitions: ReadonlyArray<{ partition: number; high: string }>,
  log: { generation: string; logger: EventsLogger; intervalMs: number },
): Promise<void> {
  const caughtUp = () => {
    const positions = consumer.positions();
    return partitions.every((t) => (positions.get(t.partition) ?? -1n) >= BigInt(t.high));
  };
  let lastLog = Date.now();
  while (!caughtUp()) {
    await pause(100);
    if (Date.now() - lastLog < log.intervalMs) continue;
    lastLog = Date.now();
    const positions = Object.fromEntries([...consumer.positions()].map(([p, o]) => [p, String(o)]));
    log.logger.info({ generation: log.generation, positions }, 'rebuild in progress');
  }
}

/** Swaps the caught-up shadow in (resolving with the generation it replaced), or leaves it beside. */
async function swapOrLeave(options: RebuildOptions, swap: boolean): Promise<string | undefined> {
  const { store, generation, logger } = options;
  if (!swap) {
    await store.abortShadow(generation);
    logger.info({ generation }, 'rebuild caught up; left beside the active generation (no swap)');
    return undefined;
  }
  const previous = await store.swap(generation);
  logger.info({ generation, previous }, 'rebuild caught up; generation swapped in');
  return previous;
}

/**
 * Drops the replaced generation after `afterMs`. Live projectors in the per-event mode (Redis
 * Cluster) that read the targets just before the swap may still write a chunk to the old
 * generation (the batch script reads them atomically with its writes); dropping it a little later
 * keeps those writes from leaving strays.
 */
async function dropPreviousLater(options: RebuildOptions, previous: string, afterMs: number): Promise<void> {
  await pause(afterMs);
  const dropped = await options.store.dropGeneration(previous);
  options.logger.info({ previous, dropped }, 'dropped the replaced generation');
}

/** Replays into the shadow up to the watermarks, then swaps it in (or leaves it) and stops the group. */
async function replay(options: RebuildOptions, admin: Admin, consumer: EventConsumer, groupId: string) {
  const { config, generation, logger } = options;
  const swap = options.swap ?? true;
  const { partitions, replayedTo } = await replayTargets(admin, config.EVENTS_TOPIC);
  logger.info({ generation, groupId, replayTo: replayedTo }, 'rebuild started');
  await consumer.start();
  await waitUntilCaughtUp(consumer, partitions, {
    generation,
    logger,
    intervalMs: options.progressIntervalMs ?? 5000,
  });
  const previous = await swapOrLeave(options, swap);
  await consumer.stop();
  await admin.deleteGroups([groupId]).catch((err: unknown) => {
    logger.warn({ err, groupId }, 'could not delete the rebuild consumer group');
  });
  if (previous !== undefined && options.dropPreviousAfterMs !== undefined) {
    await dropPreviousLater(options, previous, options.dropPreviousAfterMs);
  }
  return { generation, swapped: swap, previous, replayedTo };
}

/**
 * Replays the behaviour topic from offset 0 into a fresh generation and, once caught up, swaps it
 * in atomically, while the live projectors keep serving and applying.
 *
 * 1. The new generation is registered as the shadow: from the next chunk on, every live projector
 *    writes each event to the shadow as well as to the active generation (shadow first).
 * 2. The high watermarks are read after that, and a fresh consumer group replays every partition
 *    from offset 0 up to them into the shadow only.
 * 3. Caught up, one script makes the shadow active (if it still is the shadow).
 *
 * Nothing is lost around the swap: an event below the watermarks is replayed here; an event at or
 * above them was fetched after step 1, and the live projectors read the targets when they apply
 * it, after fetching it, so they wrote it to the shadow. Events applied both ways are deduplicated
 * by event_id, and the fold is order-independent, so the result equals a replay in topic order.
 *
 * A rebuild that dies leaves a shadow the live projectors keep writing; the next rebuild replaces
 * it (and drops its keys).
 */
export async function rebuildReadModels(options: RebuildOptions): Promise<RebuildResult> {
  const { kafka, store, config, generation, logger } = options;
  await beginShadow(store, generation, logger);
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `${config.CONSUMER_GROUP}.rebuild.${generation}`;
  const consumer = createProjector({
    kafka,
    store,
    config,
    groupId,
    generation,
    logger,
    registry: options.registry,
  });
  try {
    return await replay(options, admin, consumer, groupId);
  } catch (err) {
    await consumer.stop().catch(() => {});
    await store.abortShadow(generation).catch(() => {});
    throw err;
  } finally {
    await admin.disconnect();
  }
}
