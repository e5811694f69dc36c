// The read-model store against a real Redis, in both apply modes: what one chunk writes, including
// values the MessagePack packing must carry intact (non-ASCII, longer than 255 bytes, large sums);
// and the fast chunk codec against its reference on generated chunks.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, test } from 'node:test';
import { startInfra, type Infra } from '@wxmesh/testing';
import { Redis } from 'ioredis';
import { Code, ConnectError } from '@connectrpc/connect';
import fc from 'fast-check';
import { namedFieldsCodec, type ChunkCodec } from '../src/adapters/chunk-codec.js';
import { positionalChunkCodec } from '../src/adapters/fast/positional-chunk-codec.js';
import {
  createReadModelStore,
  DEFAULT_DEDUPE_WINDOW_MS,
  JOURNEY_LAYOUT,
  LayoutMismatchError,
} from '../src/adapters/read-models.js';
import { isTransientFailure } from '../src/app/consume-events.js';
import { createBehaviourViewService } from '../src/service.js';
import {
  FUNNEL_STEPS,
  JOURNEY_COUNTERS,
  JOURNEY_FLAGS,
  MAX_OCCURRED_AT_MS,
  MIN_OCCURRED_AT_MS,
  type Projection,
} from '../src/domain/projection.js';
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

const APPID = `wx${'é'.repeat(40)}${'x'.repeat(300)}`;

const projection = (n: number, overrides: Partial<Projection> = {}): Projection => ({
  openid: `o_${n % 3}`,
  eventId: `e-${n}`,
  at: Date.UTC(2025, 0, 1) + n,
  appid: APPID,
  unionid: '统一ID😀',
  eventType: 'payment_succeeded',
  increments: [
    ['ordersPaid', 1],
    ['paidTotal', 123_456_789_012],
  ],
  funnel: { appid: APPID, day: '2025-01-01', step: 'paid' },
  ...overrides,
});

for (const applyMode of ['batch', 'event'] as const) {
  describe(`createReadModelStore, applyMode ${applyMode}`, () => {
    it('folds a chunk once, whatever the strings hold, and counts duplicates', async () => {
      const prefix = `wxm:rm-spec:${randomBytes(3).toString('hex')}:`;
      const store = createReadModelStore(redis, { prefix, newGeneration: () => 'g1', applyMode });
      const chunk = [0, 1, 2, 3, 4].map((n) => projection(n));
      chunk.push(projection(5, { flag: 'phone', increments: [], funnel: undefined, unionid: '', appid: '' }));
      assert.deepEqual(await store.apply(chunk), { applied: 6, duplicates: 0 });
      assert.deepEqual(await store.apply(chunk.slice(0, 4)), { applied: 0, duplicates: 4 });

      const user2 = await store.journey('o_2');
      assert.equal(user2.unionid, '统一ID😀');
      assert.equal(user2.appid, APPID);
      assert.ok(user2.flags.has('phone'));
      assert.equal(user2.counters.ordersPaid, 1n);
      assert.equal(user2.counters.paidTotal, 123_456_789_012n);
      assert.deepEqual(user2.lastEvent, {
        at: Date.UTC(2025, 0, 1) + 5,
        eventId: 'e-5',
        eventType: 'payment_succeeded',
      });
      const user0 = await store.journey('o_0');
      assert.equal(user0.counters.ordersPaid, 2n);
      assert.equal(user0.counters.paidTotal, 246_913_578_024n);
      assert.equal(user0.firstSeenAt, Date.UTC(2025, 0, 1));
      const [day] = await store.funnel(APPID, ['2025-01-01']);
      assert.deepEqual(day, { day: '2025-01-01', logged_in: 0, phone_bound: 0, ordered: 0, paid: 3 });
      assert.deepEqual((await store.appliedEventIds('g1', 'o_1')).sort(), ['e-1', 'e-4']);
    });

    it('takes the latest fields from the greatest (occurred_at, event_id), in any arrival order', async () => {
      const t = Date.UTC(1969, 11, 31, 23, 59); // before the epoch: a negative occurred_at
      const events = [
        projection(0, { openid: 'o_u', eventId: 'ab', at: t, appid: 'wx_a', unionid: 'u a' }),
        projection(0, {
          openid: 'o_u',
          eventId: 'abc',
          at: t,
          appid: '',
          unionid: 'u b',
          eventType: 'user_online',
        }),
        projection(0, { openid: 'o_u', eventId: 'b', at: t - 1, appid: 'wx_b', unionid: 'u c' }),
        projection(0, { openid: 'o_u', eventId: 'aa', at: t, appid: 'wx_c', unionid: '' }),
      ];
      const journeys = [];
      for (const order of [
        [0, 1, 2, 3],
        [3, 2, 1, 0],
        [1, 3, 0, 2],
        [2, 0, 3, 1],
      ]) {
        const prefix = `wxm:rm-spec:${randomBytes(3).toString('hex')}:`;
        const store = createReadModelStore(redis, { prefix, newGeneration: () => 'g1', applyMode });
        for (const i of order) await store.apply([events[i]!]);
        journeys.push(await store.journey('o_u'));
      }
      for (const j of journeys) assert.deepEqual(j, journeys[0]);
      const j = journeys[0]!;
      assert.deepEqual(j.lastEvent, { at: t, eventId: 'abc', eventType: 'user_online' });
      assert.equal(j.appid, 'wx_a'); // ab > aa at the same instant; abc has none
      assert.equal(j.unionid, 'u b'); // values may hold spaces
      assert.equal(j.firstSeenAt, t - 1);
      assert.equal(j.counters.ordersPaid, 4n);
    });

    it('reads an unknown user as an empty journey', async () => {
      const prefix = `wxm:rm-spec:${randomBytes(3).toString('hex')}:`;
      const store = createReadModelStore(redis, { prefix, newGeneration: () => 'g1', applyMode });
      await store.apply([projection(0)]);
      const j = await store.journey('o_nobody');
      assert.equal(j.firstSeenAt, undefined);
      assert.equal(j.lastEvent, undefined);
      assert.deepEqual(
        [j.appid, j.unionid, j.flags.size, j.counters.logins, j.counters.paidTotal],
        ['', '', 0, 0n, 0n],
      );
    });
  });
}

for (const applyMode of ['batch', 'event'] as const) {
  describe(`createReadModelStore, generations and layouts, applyMode ${applyMode}`, () => {
    it('creates the first generation, and writes a rebuild shadow beside the active one', async () => {
      const prefix = `wxm:rm-spec:${randomBytes(3).toString('hex')}:`;
      const store = createReadModelStore(redis, { prefix, newGeneration: () => 'g1', applyMode });
      await store.apply([projection(0)]);
      assert.equal(await store.activeGeneration(), 'g1');
      assert.equal(await store.beginShadow('g2'), undefined);
      assert.deepEqual(await redis.hmget(`${prefix}generations`, 'layout:g1', 'layout:g2'), [
        JOURNEY_LAYOUT,
        JOURNEY_LAYOUT,
      ]);
      assert.deepEqual(await store.apply([projection(1)]), { applied: 1, duplicates: 0 });
      for (const gen of ['g1', 'g2']) assert.deepEqual(await store.appliedEventIds(gen, 'o_1'), ['e-1']);
      assert.deepEqual(await store.appliedEventIds('g2', 'o_0'), []); // applied before the shadow began
      assert.deepEqual(await store.apply([projection(0)], 'g2'), { applied: 1, duplicates: 0 });

      assert.equal(await store.swap('g2'), 'g1');
      assert.equal((await store.journey('o_0')).counters.ordersPaid, 1n);
      const [day] = await store.funnel(APPID, ['2025-01-01']);
      assert.equal(day!.paid, 2); // the shadow's funnel sets were written too
      await store.apply([projection(2)]);
      assert.deepEqual(await store.appliedEventIds('g1', 'o_2'), []); // the replaced generation no longer
      assert.deepEqual(await store.appliedEventIds('g2', 'o_2'), ['e-2']);
    });

    it('neither writes nor reads a generation of another layout until a rebuild swaps one in', async () => {
      const prefix = `wxm:rm-spec:${randomBytes(3).toString('hex')}:`;
      // A generation written before layouts were recorded (layout 1: plain fields, no markers).
      const old = { first: '1735689600000', last: '1735689600000', logins: '3' };
      await redis.hset(`${prefix}generations`, 'active', 'gold');
      await redis.hset(`${prefix}gold:{o_0}:journey`, old);
      const store = createReadModelStore(redis, { prefix, newGeneration: () => 'unused', applyMode });

      const mismatch = (err: unknown) =>
        err instanceof LayoutMismatchError &&
        err.generation === 'gold' &&
        err.layout === '1' &&
        /run the rebuild/.test(err.message);
      await assert.rejects(store.apply([projection(0)]), mismatch);
      await assert.rejects(store.apply([projection(0)], 'gold'), mismatch);
      assert.deepEqual(await redis.hgetall(`${prefix}gold:{o_0}:journey`), old); // nothing written
      await assert.rejects(store.journey('o_0'), mismatch);
      assert.equal(isTransientFailure(new LayoutMismatchError('gold', '1')), true); // the consumer waits
      const service = createBehaviourViewService({ store });
      const asOperator = { caller: { kind: 'peer', peer: 'operator', identity: {} } };
      await assert.rejects(
        Promise.resolve(service.handlers.getUserJourney!({ openid: 'o_0' } as never, asOperator as never)),
        (err: unknown) => err instanceof ConnectError && err.code === Code.Unavailable,
      );
      assert.equal((await store.funnel(APPID, ['2025-01-01']))[0]!.logged_in, 0); // funnels are unchanged

      // What the rebuild does: a shadow of this layout, filled, then swapped in.
      await store.beginShadow('gnew');
      await assert.rejects(store.apply([projection(1)]), mismatch); // the live projector still waits
      assert.deepEqual(await store.appliedEventIds('gnew', 'o_1'), []); // and wrote nothing, not even to the shadow
      await store.apply([projection(0)], 'gnew');
      assert.equal(await store.swap('gnew'), 'gold');
      await store.apply([projection(1)]);
      assert.equal((await store.journey('o_0')).counters.ordersPaid, 1n);
      assert.equal((await store.journey('o_1')).counters.ordersPaid, 1n);
      await store.dropGeneration('gold');
      assert.equal(await redis.exists(`${prefix}gold:{o_0}:journey`), 0);
    });
  });
}

// The fast chunk codec (positional records) against its reference (named fields): in both apply
// modes it must leave the same keys with the same contents as the reference and report the same
// counts, whatever the strings, amounts, times, duplicates, flags and dedupe window (the small
// ones prune markers among events a few ms apart) hold.
const text = fc.oneof(
  fc.constantFrom('', 'wx0123456789abcdef', '统一ID😀', 'with space', 'x'.repeat(300)),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
);

const projectionArb: fc.Arbitrary<Projection> = fc.record({
  openid: fc.constantFrom('o_a', 'o_b', 'o-C_3'),
  eventId: fc.constantFrom('e1', 'e2', 'e3', 'e10', 'é4', `e${'5'.repeat(200)}`),
  at: fc.oneof(
    fc.bigInt({ min: BigInt(MIN_OCCURRED_AT_MS), max: BigInt(MAX_OCCURRED_AT_MS) }).map(Number),
    fc.integer({ min: 0, max: 10 }).map((ms) => 1_735_689_600_000 + ms),
  ),
  appid: text,
  unionid: text,
  eventType: fc.constantFrom('user_logged_in', 'payment_succeeded', 'user_online'),
  increments: fc.uniqueArray(
    fc.tuple(
      fc.constantFrom(...JOURNEY_COUNTERS),
      fc.maxSafeNat().map((n) => Math.floor(n / 4)),
    ),
    { selector: ([counter]) => counter, maxLength: 3 },
  ),
  flag: fc.option(fc.constantFrom(...JOURNEY_FLAGS), { nil: undefined }),
  funnel: fc.option(
    fc.record({
      appid: fc.constantFrom('wx_a', 'wx_é'),
      day: fc.constantFrom('2025-01-01', '2025-01-02'),
      step: fc.constantFrom(...FUNNEL_STEPS),
    }),
    { nil: undefined },
  ),
});

/**
 * Applies the chunks with `codec` and a dedupe window of `dedupeWindowMs` under a fresh prefix;
 * resolves with the counts and every key.
 */
async function stateAfter(
  codec: ChunkCodec,
  applyMode: 'batch' | 'event',
  chunks: Projection[][],
  dedupeWindowMs: number,
) {
  const prefix = `wxm:codec-spec:${randomBytes(4).toString('hex')}:`;
  const store = createReadModelStore(redis, {
    prefix,
    newGeneration: () => 'g1',
    applyMode,
    chunkCodec: codec,
    dedupeWindowMs,
  });
  const counts = [];
  for (const chunk of chunks) counts.push(await store.apply(chunk));
  return { counts, keys: await takeKeys(redis, prefix) };
}

test('the fast codec, in both apply modes, leaves the state the reference codec leaves', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(projectionArb, { minLength: 1, maxLength: 12 }), { maxLength: 4 }),
      fc.constantFrom(DEFAULT_DEDUPE_WINDOW_MS, 64, 3),
      async (chunks, dedupeWindowMs) => {
        const reference = await stateAfter(namedFieldsCodec, 'batch', chunks, dedupeWindowMs);
        assert.ok(
          chunks.flat().length === 0 || Object.keys(reference.keys).length > 1,
          'the reference wrote journeys',
        );
        for (const applyMode of ['batch', 'event'] as const) {
          for (const codec of [namedFieldsCodec, positionalChunkCodec]) {
            assert.deepEqual(
              await stateAfter(codec, applyMode, chunks, dedupeWindowMs),
              reference,
              `${codec.name}, ${applyMode}`,
            );
          }
        }
      },
    ),
    { numRuns: 60, verbose: 1 },
  );
});
