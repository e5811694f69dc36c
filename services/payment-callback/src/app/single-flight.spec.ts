import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSingleFlight } from './single-flight.js';

test('concurrent runs with one key share one attempt; other keys run on their own', async () => {
  const flight = createSingleFlight<number>();
  let runs = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const work = async () => {
    runs++;
    await gate;
    return runs;
  };
  const shared = [flight.run('a', work), flight.run('a', work), flight.run('a', work)];
  const other = flight.run('b', work);
  release();
  assert.deepEqual(await Promise.all(shared), [2, 2, 2]);
  assert.equal(await other, 2);
  assert.equal(runs, 2);
});

test('once an attempt settles, the next run with its key starts afresh, after a failure too', async () => {
  const flight = createSingleFlight<string>();
  await assert.rejects(
    flight.run('a', async () => {
      throw new Error('first failed');
    }),
    /first failed/,
  );
  assert.equal(await flight.run('a', async () => 'second'), 'second');
  assert.equal(await flight.run('a', async () => 'third'), 'third');
});

test('callers that join a running attempt get its result through forSharers; its starter gets it as is', async () => {
  const flight = createSingleFlight<string>();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const work = async () => {
    await gate;
    return 'applied';
  };
  const asSharer = (result: string) => (result === 'applied' ? 'duplicate' : result);
  const calls = [
    flight.run('a', work, asSharer),
    flight.run('a', work, asSharer),
    flight.run('a', work, asSharer),
  ];
  release();
  assert.deepEqual(await Promise.all(calls), ['applied', 'duplicate', 'duplicate']);
});
