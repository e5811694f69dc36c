/** A partition's batches, processed one after the other; a new epoch drops the ones queued before it. */
export interface Lane {
  tail: Promise<void>;
  epoch: number;
}

/**
 * One {@link Lane} per partition. kafkajs fetches again only once every batch of its fetch has
 * returned from `eachBatch`, so a batch is queued on its partition's lane and `eachBatch` returns
 * when the lane's previous batch is done: the next fetch overlaps the folding of this one, at most
 * one batch ahead per partition.
 */
export class PartitionLanes {
  readonly #lanes = new Map<number, Lane>();

  get size(): number {
    return this.#lanes.size;
  }

  /**
   * Queues `process` on the partition's lane (it gets the lane and the epoch it was queued in) and
   * returns the lane's previous batch, which the caller waits for.
   */
  enqueue(partition: number, process: (lane: Lane, epoch: number) => Promise<void>): Promise<void> {
    const lane = this.#lanes.get(partition) ?? { tail: Promise.resolve(), epoch: 0 };
    this.#lanes.set(partition, lane);
    const previous = lane.tail;
    const epoch = lane.epoch;
    lane.tail = previous.then(() => process(lane, epoch));
    return previous;
  }

  /** Starts a new epoch on every lane: batches queued before now are dropped (after the chunk they apply). */
  newEpoch(): void {
    for (const lane of this.#lanes.values()) lane.epoch++;
  }

  /** Resolves once every lane's queued batches are done. */
  async drain(): Promise<void> {
    await Promise.all([...this.#lanes.values()].map((lane) => lane.tail));
  }
}
