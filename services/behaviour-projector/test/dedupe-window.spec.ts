// The bounded dedupe markers against a real Redis, in both apply modes and with both chunk codecs:
// markers the window has passed are pruned by a later fold, a redelivery within the window is
// still a duplicate, one older than it is applied again (the documented bound), and the markers a
// journey keeps depend only on which events were applied, not on their order or chunking (what
// makes a rebuild's read models equal the live ones).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, test } from 'node:test';
import { startInfra, type Infra } from '@wxmesh/testing';
import { Redis } from 'ioredis';
import fc from 'fast-check';
import { namedFieldsCodec, type ChunkCodec } from '../src/adapters/chunk-codec.js';
import { positionalChunkCodec } from '../src/adapters/fast/positional-chunk-codec.js';
import { PRUNE_STEPS_PER_WINDOW } from '../src/adapters/apply-script-parts.js';
import { createReadModelStore } from '../src/adapters/read-models.js';
import type { Projection } from '../src/domain/projection.js';
import { takeKeys } from './support.js';

let infra: Infra<{ redis: true; kafka: false }>;
let redis: Redis;

before(async () => {
  infra = await startInfra({ redis: true, kafka: false });
  redis = new Redis(infra.redisUrl);
});

after(async () => {
  await redis?.quit();
  await infra?.stop();
});

const T = Date.UTC(2025, 0, 1);
const WINDOW_MS = 1_000;

const login = (eventId: string, at: number, openid = 'o_1'): Projection => ({
  openid,
  eventId,
  at,
  appid: 'wx_app',
  unionid: '',
  eventType: 'user_logged_in',
  increments: [['logins', 1]],
});

const codecs = [namedFieldsCodec, positionalChunkCodec];

for (const applyMode of ['batch', 'event'] as const) {
  for (const chunkCodec of codecs) {
    describe(`bounded dedupe markers, ${chunkCodec.name}, applyMode ${applyMode}`, () => {
      const storeAt = (prefix: string) =>
        createReadModelStore(redis, {
          prefix,
          newGeneration: () => 'g1',
          applyMode,
          chunkCodec,
          dedupeWindowMs: WINDOW_MS,
        });

      it('prunes the markers a later fold put behind the window, and still dedupes within it', async () => {
        const prefix = `wxm:dedupe-spec:${randomBytes(3).toString('hex')}:`;
        const store = storeAt(prefix);
        const journeyKey = `${prefix}g1:{o_1}:journey`;
        await store.apply([login('e-old', T), login('e-recent', T + 900)]);
        await redis.hset(journeyKey, 'e:legacy', '1'); // a marker from before markers held a time
        assert.deepEqual((await store.appliedEventIds('g1', 'o_1')).sort(), ['e-old', 'e-recent', 'legacy']);

        assert.deepEqual(await store.apply([login('e-new', T + 1_500)]), { applied: 1, duplicates: 0 });
        assert.deepEqual((await store.appliedEventIds('g1', 'o_1')).sort(), ['e-new', 'e-recent', 'legacy']);
        assert.equal(await redis.hget(journeyKey, 'e:e-old'), null);

        // A redelivery within the window of the newest event changes nothing.
        assert.deepEqual(await store.apply([login('e-recent', T + 900)]), { applied: 0, duplicates: 1 });
        assert.deepEqual(await store.apply([login('legacy', T)]), { applied: 0, duplicates: 1 });
        assert.equal((await store.journey('o_1')).counters.logins, 3n);

        // One older than the window is applied again, and leaves no marker (see the README).
        assert.deepEqual(await store.apply([login('e-old', T)]), { applied: 1, duplicates: 0 });
        assert.equal((await store.journey('o_1')).counters.logins, 4n);
        assert.equal(await redis.hget(journeyKey, 'e:e-old'), null);
        const journey = await store.journey('o_1');
        assert.equal(journey.firstSeenAt, T);
        assert.deepEqual(journey.lastEvent, { at: T + 1_500, eventId: 'e-new', eventType: 'user_logged_in' });
      });

      it('keeps every marker while events stay within the window', async () => {
        const prefix = `wxm:dedupe-spec:${randomBytes(3).toString('hex')}:`;
        const store = storeAt(prefix);
        const events = Array.from({ length: 20 }, (_, i) => login(`e-${i}`, T + i * 45));
        assert.deepEqual(await store.apply(events), { applied: 20, duplicates: 0 });
        assert.equal((await store.appliedEventIds('g1', 'o_1')).length, 20);
        assert.deepEqual(await store.apply(events), { applied: 0, duplicates: 20 });
        assert.equal((await store.journey('o_1')).counters.logins, 20n);
      });
    });
  }
}

// With a window of PRUNE_STEPS_PER_WINDOW ms the pruning step is 1 ms, so the markers a journey
// keeps are exactly those of its events at or after its newest event's time minus the window.
const SMALL_WINDOW_MS = PRUNE_STEPS_PER_WINDOW;

/** Applies the chunks under a fresh prefix; resolves with every key it left. */
async function stateAfter(codec: ChunkCodec, applyMode: 'batch' | 'event', chunks: Projection[][]) {
  const prefix = `wxm:dedupe-spec:${randomBytes(4).toString('hex')}:`;
  const store = createReadModelStore(redis, {
    prefix,
    newGeneration: () => 'g1',
    applyMode,
    chunkCodec: codec,
    dedupeWindowMs: SMALL_WINDOW_MS,
  });
  for (const chunk of chunks) await store.apply(chunk);
  return takeKeys(redis, prefix);
}

/** `items` cut into consecutive chunks of the given sizes (the last one takes the rest). */
function chunked<T>(items: readonly T[], sizes: readonly number[]): T[][] {
  const chunks: T[][] = [];
  let start = 0;
  for (const size of sizes) {
    if (start >= items.length) break;
    chunks.push(items.slice(start, start + size));
    start += size;
  }
  if (start < items.length) chunks.push(items.slice(start));
  return chunks;
}

/** Per user, the event_ids at or after its newest event's time minus the window. */
function expectedMarkers(events: readonly Projection[]): Map<string, string[]> {
  const newest = new Map<string, number>();
  for (const e of events) newest.set(e.openid, Math.max(newest.get(e.openid) ?? -Infinity, e.at));
  const kept = new Map<string, string[]>();
  for (const e of events) {
    if (e.at >= newest.get(e.openid)! - SMALL_WINDOW_MS)
      kept.set(e.openid, [...(kept.get(e.openid) ?? []), e.eventId]);
  }
  return kept;
}

const distinctEvents = fc
  .array(fc.tuple(fc.constantFrom('o_a', 'o_b'), fc.integer({ min: 0, max: 3 * SMALL_WINDOW_MS })), {
    minLength: 1,
    maxLength: 30,
  })
  .map((drawn) => drawn.map(([openid, offset], i) => login(`e${i}`, T + offset, openid)));

test('the markers kept depend only on which events were applied, not on their order or chunks', async () => {
  await fc.assert(
    fc.asyncProperty(
      distinctEvents.chain((events) =>
        fc.tuple(
          fc.constant(events),
          fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }),
          fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 6 }),
        ),
      ),
      async ([inOrder, shuffled, sizes]) => {
        const reference = await stateAfter(namedFieldsCodec, 'batch', [inOrder]);
        for (const [openid, ids] of expectedMarkers(inOrder)) {
          const hash = (reference[`g1:{${openid}}:journey`] as { value: Record<string, string> }).value;
          const markers = Object.keys(hash).filter((f) => f.startsWith('e:'));
          assert.deepEqual(markers.sort(), ids.map((id) => `e:${id}`).sort(), `${openid}'s markers`);
          assert.equal(hash.logins, String(inOrder.filter((e) => e.openid === openid).length));
        }
        for (const applyMode of ['batch', 'event'] as const) {
          for (const codec of codecs) {
            assert.deepEqual(
              await stateAfter(codec, applyMode, chunked(shuffled, sizes)),
              reference,
              `${codec.name}, ${applyMode}`,
            );
          }
        }
      },
    ),
    { numRuns: 40 },
  );
});
