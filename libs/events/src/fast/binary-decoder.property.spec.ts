// The fast decoder against its reference, protobuf-es' fromBinary, on generated input: encodings
// of arbitrary events (every field kind, any Unicode, 64-bit extremes, unknown enum values) and
// malformed bytes (corruptions, truncations, appended garbage, random bytes).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { BehaviourEventSchema } from '@wxmesh/contracts';
import fc from 'fast-check';
import { createBinaryDecoder, createFastDecoder } from './binary-decoder.js';

const decode = createBinaryDecoder(BehaviourEventSchema);
const fast = createFastDecoder(BehaviourEventSchema);

type Init = MessageInitShape<typeof BehaviourEventSchema>;

const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }));
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const uint32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const timestamp = fc.record({
  seconds: fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n),
  nanos: int32,
});

const payload: fc.Arbitrary<Init['payload']> = fc.oneof(
  fc.constant(undefined),
  fc.record({ case: fc.constant('userLoggedIn' as const), value: fc.record({ sessionId: text }) }),
  fc.record({
    case: fc.constant('oauthAuthorized' as const),
    value: fc.record({ scopes: fc.array(text, { maxLength: 4 }), snapshotUser: fc.boolean() }),
  }),
  fc.record({
    case: fc.constant('sessionStarted' as const),
    value: fc.record({ sessionId: text, maxExpiresAt: fc.option(timestamp, { nil: undefined }) }),
  }),
  fc.record({
    case: fc.constant('sessionEnded' as const),
    value: fc.record({ sessionId: text, reason: int32 }),
  }),
  fc.record({
    case: fc.constant('messageFailed' as const),
    value: fc.record({
      deliveryId: text,
      attempts: uint32,
      wechatErrcode: int32,
      error: text,
      outcome: int32,
    }),
  }),
  fc.record({
    case: fc.constant('paymentSucceeded' as const),
    value: fc.record({
      outTradeNo: text,
      amountTotal: int32,
      payerTotal: int32,
      paidAt: fc.option(timestamp, { nil: undefined }),
    }),
  }),
  fc.record({
    case: fc.constant('paymentAnomalyDetected' as const),
    value: fc.record({ outTradeNo: text, mismatchedFields: fc.array(text, { maxLength: 4 }) }),
  }),
);

const eventInit: fc.Arbitrary<Init> = fc.record({
  eventId: text,
  aggregateId: text,
  aggregateVersion: fc.option(fc.bigInt(0n, 2n ** 64n - 1n), { nil: undefined }),
  occurredAt: fc.option(timestamp, { nil: undefined }),
  producer: text,
  wechat: fc.option(
    fc.record({ openid: text, appid: text, unionid: text, fromOpenid: text, env: text, source: text }),
    { nil: undefined },
  ),
  payload,
});

const encoded = eventInit.map((init) => toBinary(BehaviourEventSchema, create(BehaviourEventSchema, init)));

/** Valid encodings made malformed: bytes overwritten, cut short, or followed by random bytes. */
const malformed = fc.oneof(
  fc
    .tuple(
      encoded,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
    )
    .map(([bytes, flips]) => {
      const copy = bytes.slice();
      for (const [at, value] of flips) if (copy.length > 0) copy[at % copy.length] = value;
      return copy;
    }),
  fc.tuple(encoded, fc.nat()).map(([bytes, end]) => bytes.subarray(0, end % (bytes.length + 1))),
  fc
    .tuple(encoded, fc.uint8Array({ minLength: 1, maxLength: 12 }))
    .map(([a, b]) => new Uint8Array([...a, ...b])),
  fc.uint8Array({ maxLength: 64 }),
);

/** fromBinary's verdict: its message, or its error as text. */
function reference(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: fromBinary(BehaviourEventSchema, bytes) };
  } catch (error) {
    return { ok: false, error: String(error) };
  }
}

function verdictOf(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: decode(bytes) };
  } catch (error) {
    return { ok: false, error: String(error) };
  }
}

describe('fast binary decoder agrees with fromBinary (property)', () => {
  it('decodes every encoded event on the fast path, to exactly fromBinary’s message', () => {
    fc.assert(
      fc.property(encoded, (bytes) => {
        const fastResult = fast(bytes);
        assert.notEqual(fastResult, undefined, 'a well-formed encoding never needs fromBinary');
        assert.deepStrictEqual(fastResult, fromBinary(BehaviourEventSchema, bytes));
        assert.deepStrictEqual(fast(Buffer.from(bytes)), fastResult, 'the same from a Buffer');
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts and rejects malformed input as fromBinary does, with the same message or error', () => {
    fc.assert(
      fc.property(malformed, (bytes) => {
        const expected = reference(bytes);
        assert.deepStrictEqual(verdictOf(bytes), expected);
        const fastResult = fast(bytes);
        if (fastResult !== undefined) {
          assert.ok(expected.ok, 'the fast path never accepts what fromBinary rejects');
          assert.deepStrictEqual(fastResult, expected.value);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
