import type { EventsLogger } from '@wxmesh/events';
import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import type { ReadModelStore } from './adapters/read-models.js';
import type { ProjectorConfig } from './config.js';
import { createProjector } from './projector.js';

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
 * it, after fetching it, so they wrote it to the shadow. Events applied both ways are deduplicated by event_id, and the fold
 * is order-independent, so the result equals a replay in topic order.
 *
 * A rebuild that dies leaves a shadow the live projectors keep writing; the next rebuild replaces
 * it (and drops its keys).
 */
export async function rebuildReadModels(options: RebuildOptions): Promise<RebuildResult> {
  const { kafka, store, config, generation, logger } = options;
  const swap = options.swap ?? true;
  const abandoned = await store.beginShadow(generation);
  if (abandoned !== undefined && abandoned !== generation) {
    const dropped = await store.dropGeneration(abandoned);
    logger.warn({ abandoned, dropped }, 'replaced the shadow generation of an unfinished rebuild');
  }

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
    const offsets = await admin.fetchTopicOffsets(config.EVENTS_TOPIC);
    const targets = offsets.filter((o) => BigInt(o.high) > BigInt(o.low));
    const replayedTo = Object.fromEntries(offsets.map((o) => [o.partition, o.high]));
    logger.info({ generation, groupId, replayTo: replayedTo }, 'rebuild started');
    await consumer.start();

    const caughtUp = () => {
      const positions = consumer.positions();
      return targets.every((t) => (positions.get(t.partition) ?? -1n) >= BigInt(t.high));
    };
    let lastLog = Date.now();
    while (!caughtUp()) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (Date.now() - lastLog >= (options.progressIntervalMs ?? 5000)) {
        lastLog = Date.now();
        logger.info(
          {
            generation,
            positions: Object.fromEntries([...consumer.positions()].map(([p, o]) => [p, String(o)])),
          },
          'rebuild in progress',
        );
      }
    }

    let previous: string | undefined;
    if (swap) {
      previous = await store.swap(generation);
      logger.info({ generation, previous }, 'rebuild caught up; generation swapped in');
    } else {
      await store.abortShadow(generation);
      logger.info({ generation }, 'rebuild caught up; left beside the active generation (no swap)');
    }
    await consumer.stop();
    await admin.deleteGroups([groupId]).catch((err: unknown) => {
      logger.warn({ err, groupId }, 'could not delete the rebuild consumer group');
    });

    if (swap && previous !== undefined && options.dropPreviousAfterMs !== undefined) {
      // Live projectors in the per-event mode (Redis Cluster) that read the targets just before the
      // swap may still write a chunk to the old generation (the batch script reads them atomically
      // with its writes); dropping it a little later keeps those writes from leaving strays.
      await new Promise((resolve) => setTimeout(resolve, options.dropPreviousAfterMs));
      const dropped = await store.dropGeneration(previous);
      logger.info({ previous, dropped }, 'dropped the replaced generation');
    }
    return { generation, swapped: swap, previous, replayedTo };
  } catch (err) {
    await consumer.stop().catch(() => {});
    await store.abortShadow(generation).catch(() => {});
    throw err;
  } finally {
    await admin.disconnect();
  }
}
