import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { BehaviourEventSchema, type BehaviourEvent } from '@wxmesh/contracts';
import { behaviourEvent, type BehaviourPayloadInit } from '../envelope.js';
import { createBinaryDecoder, createFastDecoder } from './binary-decoder.js';

const decode = createBinaryDecoder(BehaviourEventSchema);
/** The fast path alone: `undefined` where the decoder hands the input to fromBinary. */
const fast = createFastDecoder(BehaviourEventSchema);

/** What fromBinary does with `bytes`: its message, or the error it throws. */
function reference(bytes: Uint8Array): { ok: true; value: BehaviourEvent } | { ok: false; error: unknown } {
  try {
    return { ok: true, value: fromBinary(BehaviourEventSchema, bytes) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** The decoder must return exactly fromBinary's message, or throw exactly its error. */
function assertSameAsFromBinary(bytes: Uint8Array, note: string) {
  const expected = reference(bytes);
  if (expected.ok) assert.deepStrictEqual(decode(bytes), expected.value, note);
  else
    assert.throws(
      () => decode(bytes),
      (err) => String(err) === String(expected.error),
      note,
    );
}

const PAYLOADS: BehaviourPayloadInit[] = [
  { case: 'userLoggedIn', value: { sessionId: 's1' } },
  { case: 'phoneNumberBound', value: { countryCode: '86' } },
  { case: 'oauthAuthorized', value: { scopes: ['snsapi_base', 'snsapi_userinfo'], snapshotUser: true } },
  { case: 'sessionStarted', value: { sessionId: 's1', maxExpiresAt: { seconds: 1_700_000_000n, nanos: 5 } } },
  { case: 'sessionEnded', value: { sessionId: 's1', reason: 3 } },
  { case: 'userOnline', value: { replicaId: 'r1', channelId: 'c1' } },
  { case: 'userOffline', value: { replicaId: 'r1', reason: 2 } },
  { case: 'messageDelivered', value: { deliveryId: 'd1', messageId: 'm1', templateId: 't', attempts: 3 } },
  { case: 'messageFailed', value: { deliveryId: 'd1', wechatErrcode: -1, error: '模板不存在 ✗' } },
  { case: 'orderCreated', value: { outTradeNo: 'o1', amountTotal: 100, currency: 'CNY' } },
  {
    case: 'paymentSucceeded',
    value: {
      outTradeNo: 'o1',
      transactionId: 't1',
      amountTotal: 100,
      payerTotal: -1,
      paidAt: { seconds: -5n },
    },
  },
  { case: 'refundSucceeded', value: { outRefundNo: 'r1', refundAmount: 2 ** 31 - 1 } },
  { case: 'paymentAnomalyDetected', value: { outTradeNo: 'o1', mismatchedFields: ['amount', 'payer'] } },
];

function sample(i: number, payload: BehaviourPayloadInit): BehaviourEvent {
  return behaviourEvent({
    eventId: `evt-${i}`,
    aggregateId: i % 2 === 0 ? `user:${i}` : `session:ünïcødé-${i}-😀`,
    aggregateVersion: i % 3 === 0 ? undefined : BigInt(i) * 1_000_000_007n,
    occurredAt: 1_700_000_000_123 + i,
    producer: 'session',
    wechat: {
      openid: `o_${i}`,
      appid: 'wx1234567890abcdef',
      unionid: i % 2 ? 'u'.repeat(300) : '',
      env: 'prod',
    },
    payload,
  });
}

describe('createBinaryDecoder', () => {
  it('decodes every payload type exactly as fromBinary (non-ASCII, long strings, 64-bit, repeated, negative)', () => {
    PAYLOADS.forEach((payload, i) => {
      const bytes = toBinary(BehaviourEventSchema, sample(i, payload));
      assert.notEqual(fast(bytes), undefined, `${payload.case}: well-formed events never need fromBinary`);
      assert.notEqual(fast(Buffer.from(bytes)), undefined, `${payload.case} from a Buffer: never fromBinary`);
      assert.deepStrictEqual(decode(bytes), fromBinary(BehaviourEventSchema, bytes), payload.case);
      assert.deepStrictEqual(
        decode(Buffer.from(bytes)),
        fromBinary(BehaviourEventSchema, bytes),
        'from a Buffer',
      );
    });
    assertSameAsFromBinary(new Uint8Array(0), 'empty input');
    assertSameAsFromBinary(toBinary(BehaviourEventSchema, create(BehaviourEventSchema)), 'zero message');
  });

  it('keeps unknown fields, merges a repeated message field and lets the last oneof case win, like fromBinary', () => {
    const base = toBinary(BehaviourEventSchema, sample(1, PAYLOADS[0]!));
    const extra = new BinaryWriter();
    extra.tag(99, WireType.Varint).uint32(7); // unknown field
    extra.tag(60, WireType.LengthDelimited).bytes(new Uint8Array([8, 1])); // unknown payload case (newer schema)
    extra.tag(6, WireType.LengthDelimited).bytes(new Uint8Array([26, 2, 117, 49])); // wechat again: unionid "u1"
    extra.tag(11, WireType.LengthDelimited).bytes(new Uint8Array([10, 2, 52, 52])); // another payload case
    const bytes = new Uint8Array([...base, ...extra.finish()]);
    const decoded = fast(bytes);
    assert.ok(decoded !== undefined, 'handled by the fast path');
    assert.deepStrictEqual(decoded, fromBinary(BehaviourEventSchema, bytes));
    assert.deepStrictEqual(decode(bytes), decoded);
    assert.equal(decoded.$unknown?.length, 2);
    assert.equal(decoded.wechat?.unionid, 'u1');
    assert.equal(decoded.wechat?.openid, 'o_1', 'merged into the first wechat, not replaced');
    assert.equal(decoded.payload.case, 'phoneNumberBound');
  });

  it('gives malformed input to fromBinary: same result or same error (truncation, bad UTF-8, wire types, groups)', () => {
    const good = toBinary(BehaviourEventSchema, sample(2, PAYLOADS[10]!));
    for (let end = 0; end < good.length; end++)
      assertSameAsFromBinary(good.subarray(0, end), `truncated at ${end}`);
    const badUtf8 = new BinaryWriter()
      .tag(1, WireType.LengthDelimited)
      .bytes(new Uint8Array([0x61, 0xff]))
      .finish();
    assertSameAsFromBinary(badUtf8, 'invalid UTF-8 in event_id');
    const wrongWire = new BinaryWriter().tag(1, WireType.Varint).uint32(5).finish();
    assertSameAsFromBinary(wrongWire, 'string field sent as a varint');
    const group = new BinaryWriter().tag(50, WireType.StartGroup).tag(50, WireType.EndGroup).finish();
    assertSameAsFromBinary(group, 'unknown group');
    assertSameAsFromBinary(new Uint8Array([0x00]), 'field number 0');
  });

  it('agrees with fromBinary on thousands of random corruptions of valid events', () => {
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let n = 0; n < 5000; n++) {
      const bytes = toBinary(BehaviourEventSchema, sample(n, PAYLOADS[n % PAYLOADS.length]!)).slice();
      const flips = 1 + Math.floor(random() * 3);
      for (let f = 0; f < flips; f++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      assertSameAsFromBinary(bytes, `corruption ${n}`);
    }
  });
});
