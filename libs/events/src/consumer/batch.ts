import type { Batch, EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { EventsLogger } from '../logger.js';
import { applyChunk, prepareChunk, type ChunkDeps } from './chunks.js';
import type { Lane } from './lanes.js';
import type { PartitionPositions } from './positions.js';
import { BatchAbandoned, type BatchControl } from './retries.js';

/** What processing one batch needs from its consumer. */
export interface BatchDeps {
  readonly chunks: ChunkDeps;
  readonly chunkSize: number;
  readonly positions: PartitionPositions;
  readonly logger: EventsLogger;
  /** True once the consumer is stopping. */
  stopping(): boolean;
  /** Makes kafkajs fetch the partition again from `offset`; throws when the consumer is not running. */
  seek(partition: number, offset: string): void;
}

/**
 * One batch of a lane, in chunks of `chunkSize`: applied one at a time, in offset order, the
 * partition's position moving past a chunk once it was applied, then committed. Never rejects: a
 * batch that cannot go on is abandoned (its lane's epoch moved on, the consumer stops) or, on an
 * unexpected error, its partition is sought back to the applied position so that kafkajs fetches
 * the rest again.
 */
export async function processBatch(
  deps: BatchDeps,
  payload: EachBatchPayload,
  lane: Lane,
  epoch: number,
): Promise<void> {
  const { batch } = payload;
  const control = batchControl(deps, payload, lane, epoch);
  const pipeline = new ChunkPipeline(deps, batch, control);
  try {
    await pipeline.run(unapplied(batch.messages, deps.positions.next(batch.partition)));
  } catch (err) {
    // Never leave an apply running behind a batch that is over (stop() closes the store next).
    await pipeline.drain();
    if (!(err instanceof BatchAbandoned)) fetchAgainFromPosition(deps, batch, lane, err);
  } finally {
    await deps.positions.commit(payload, batch.partition);
  }
}

function batchControl(deps: BatchDeps, payload: EachBatchPayload, lane: Lane, epoch: number): BatchControl {
  return {
    live: () => !deps.stopping() && lane.epoch === epoch && payload.isRunning() && !payload.isStale(),
    // A failed heartbeat (a rebalance) is the runner's to act on; it heartbeats after every batch.
    heartbeat: () => payload.heartbeat().catch(() => {}),
  };
}

/** After a rejoin kafkajs fetches from the committed offset again: the records not yet applied here. */
function unapplied(messages: KafkaMessage[], from: bigint | undefined): KafkaMessage[] {
  if (from === undefined || BigInt(messages[0]!.offset) >= from) return messages;
  return messages.filter((m) => BigInt(m.offset) >= from);
}

function fetchAgainFromPosition(deps: BatchDeps, batch: Batch, lane: Lane, err: unknown): void {
  const { partition } = batch;
  const { groupId, topic } = deps.chunks.site;
  lane.epoch++;
  const offset = String(deps.positions.next(partition) ?? BigInt(batch.messages[0]!.offset));
  deps.logger.warn(
    { err, groupId, topic, partition, offset },
    'batch failed; fetching again from its position',
  );
  try {
    deps.seek(partition, offset);
  } catch {
    // The consumer is not running: the next owner starts from the committed offset.
  }
}

/**
 * The chunks of one batch, pipelined: the next chunk is decoded while the store applies the one
 * before it. Applies still run one at a time and in offset order, and the position moves past a
 * chunk only once it was applied.
 */
class ChunkPipeline {
  #applying: Promise<void> | undefined;
  #applyingLast = '';

  constructor(
    private readonly deps: BatchDeps,
    private readonly batch: Batch,
    private readonly control: BatchControl,
  ) {}

  async run(messages: KafkaMessage[]): Promise<void> {
    const { deps, control } = this;
    const { partition } = this.batch;
    for (let start = 0; start < messages.length; start += deps.chunkSize) {
      if (!control.live()) break;
      const chunk = messages.slice(start, start + deps.chunkSize);
      const ready = await prepareChunk(deps.chunks, chunk, partition, control);
      await this.settle();
      if (!control.live()) break;
      this.#applying = applyChunk(deps.chunks, ready, partition, control);
      this.#applying.catch(() => {}); // awaited by settle(); this only keeps it from counting as unhandled meanwhile
      this.#applyingLast = chunk[chunk.length - 1]!.offset;
    }
    await this.settle();
  }

  /** Waits for the chunk being applied, an error included; moves nothing. */
  async drain(): Promise<void> {
    await this.#applying?.catch(() => {});
  }

  /** Waits for the chunk being applied, then moves the position past it and heartbeats. */
  private async settle(): Promise<void> {
    if (this.#applying === undefined) return;
    const done = this.#applying;
    this.#applying = undefined;
    await done;
    this.deps.positions.advance(
      this.batch.partition,
      BigInt(this.#applyingLast) + 1n,
      this.batch.highWatermark,
    );
    await this.control.heartbeat();
  }
}
