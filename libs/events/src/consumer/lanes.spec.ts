import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PartitionLanes } from './lanes.js';

describe('PartitionLanes', () => {
  it('runs a partition’s batches one after the other, each with the epoch it was queued in', async () => {
    const lanes = new PartitionLanes();
    const log: string[] = [];
    let release!: () => void;
    const first = new Promise<void>((resolve) => (release = resolve));
    const previousOfFirst = lanes.enqueue(0, async (_lane, epoch) => {
      log.push(`first start ${epoch}`);
      await first;
      log.push('first end');
    });
    lanes.newEpoch();
    const previousOfSecond = lanes.enqueue(0, async (lane, epoch) => {
      log.push(`second ${epoch} of ${lane.epoch}`);
    });
    await previousOfFirst;
    const other = lanes.enqueue(1, async (_lane, epoch) => void log.push(`other partition ${epoch}`));
    await other;
    release();
    await previousOfSecond;
    await lanes.drain();
    assert.deepEqual(log, ['first start 0', 'other partition 0', 'first end', 'second 1 of 1']);
    assert.equal(lanes.size, 2);
  });
});
