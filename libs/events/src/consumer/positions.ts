import type { EachBatchPayload } from 'kafkajs';
import type { EventsLogger } from '../logger.js';
import type { ConsumerMetrics } from './metrics.js';

/**
 * Per assigned partition, the next offset to process (every record before it applied, skipped or
 * dead-lettered) and the last one committed. Only a position that moved past applied records is
 * ever committed: this is what makes delivery at least once.
 */
export class PartitionPositions {
  readonly #next = new Map<number, bigint>();
  readonly #committed = new Map<number, bigint>();

  constructor(
    private readonly where: { groupId: string; topic: string },
    private readonly metrics: ConsumerMetrics,
    private readonly logger: EventsLogger,
  ) {}

  /** The live map of positions (callers read it, never write it). */
  view(): ReadonlyMap<number, bigint> {
    return this.#next;
  }

  next(partition: number): bigint | undefined {
    return this.#next.get(partition);
  }

  /** Moves the partition's position to `next` and records the lag behind `highWatermark`. */
  advance(partition: number, next: bigint, highWatermark: string): void {
    this.#next.set(partition, next);
    this.metrics.setLag(this.where.topic, partition, Number(BigInt(highWatermark) - next));
  }

  /** Forgets the partitions this member no longer holds after a rebalance. */
  keepOnly(assigned: ReadonlySet<number>): void {
    for (const partition of this.#next.keys()) {
      if (!assigned.has(partition)) {
        this.#next.delete(partition);
        this.#committed.delete(partition);
        this.metrics.forgetLag(this.where.topic, partition);
      }
    }
  }

  /** Commits the partition's position, if it moved; a failure is left to the next commit. */
  async commit(payload: EachBatchPayload, partition: number): Promise<void> {
    const next = this.#next.get(partition);
    if (next === undefined || this.#committed.get(partition) === next) return;
    const { groupId, topic } = this.where;
    try {
      await payload.commitOffsetsIfNecessary({
        topics: [{ topic, partitions: [{ partition, offset: String(next) }] }],
      });
      this.#committed.set(partition, next);
    } catch (err) {
      this.logger.warn({ err, groupId, topic, partition }, 'offset commit failed; the next commit covers it');
    }
  }
}
