import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeRelayEnvelope, encodeRelayEnvelope, type RelayEnvelope } from './relay-codec.js';

const MESSAGE = {
  deliveryId: 'd1',
  kind: 'chat',
  payload: new Uint8Array([0, 1, 255]),
  sentAt: 1_700_000_000_000,
};

test('a deliver request keeps its wire shape and round-trips, payload bytes included', () => {
  const request: RelayEnvelope = {
    kind: 'deliver',
    requestId: 'q1',
    from: 'r1',
    openid: 'o_1',
    until: 5,
    message: MESSAGE,
  };
  const raw = encodeRelayEnvelope(request);
  assert.equal(
    raw,
    '{"k":"deliver","id":"q1","from":"r1","openid":"o_1","until":5,' +
      '"m":{"deliveryId":"d1","kind":"chat","sentAt":1700000000000,"p":"AAH/"}}',
  );
  const decoded = decodeRelayEnvelope(raw);
  assert.equal(decoded?.kind, 'deliver');
  assert.deepEqual(decoded.kind === 'deliver' && [...decoded.message.payload], [0, 1, 255]);
  assert.deepEqual(decoded.kind === 'deliver' && { ...decoded.message, payload: undefined }, {
    ...MESSAGE,
    payload: undefined,
  });
  assert.deepEqual({ ...decoded, message: undefined }, { ...request, message: undefined });
});

test('acks and session ends keep their wire shapes and round-trip', () => {
  const ack: RelayEnvelope = { kind: 'ack', requestId: 'q1', written: 2 };
  assert.equal(encodeRelayEnvelope(ack), '{"k":"ack","id":"q1","n":2}');
  assert.deepEqual(decodeRelayEnvelope(encodeRelayEnvelope(ack)), ack);
  const end: RelayEnvelope = { kind: 'end', openid: 'o_1', sessionId: 'sid1', reason: 'logout' };
  assert.equal(encodeRelayEnvelope(end), '{"k":"end","openid":"o_1","sid":"sid1","reason":"logout"}');
  assert.deepEqual(decodeRelayEnvelope(encodeRelayEnvelope(end)), end);
});

test('an unknown kind decodes to nothing; malformed JSON throws', () => {
  assert.equal(decodeRelayEnvelope('{"k":"later"}'), undefined);
  assert.throws(() => decodeRelayEnvelope('{'), SyntaxError);
});
