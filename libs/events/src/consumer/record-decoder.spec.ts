import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { BehaviourEventSchema } from '@wxmesh/contracts';
import type { KafkaMessage } from 'kafkajs';
import { behaviourEvent, encodeBehaviourEvent, InvalidBehaviourEventError } from '../envelope.js';
import { KNOWN_EVENT_TYPES } from './options.js';
import { decodeRecord, headerString } from './record-decoder.js';

const init = {
  eventId: 'ev-1',
  aggregateId: 'user:o1',
  occurredAt: 1_700_000_000_000,
  producer: 'session',
  wechat: { openid: 'o1' },
  payload: { case: 'userLoggedIn', value: { sessionId: 's1' } },
} as const;
const event = behaviourEvent(init);

function record(value: Uint8Array | null, headers?: KafkaMessage['headers']): KafkaMessage {
  return {
    key: Buffer.from('o1'),
    value: value === null ? null : Buffer.from(value),
    timestamp: '0',
    attributes: 0,
    offset: '7',
    headers,
  } as KafkaMessage;
}

describe('decodeRecord', () => {
  it('decodes and validates a record into its event and type', () => {
    const decoded = decodeRecord(record(encodeBehaviourEvent(event)), KNOWN_EVENT_TYPES);
    assert.ok('event' in decoded);
    assert.equal(decoded.type, 'wxmesh.behaviour.v1.UserLoggedIn');
    assert.deepEqual(decoded.event, event);
  });

  it('skips by header, undecoded, an unknown type or another schema version', () => {
    const garbage = new Uint8Array([0xff]);
    assert.deepEqual(
      decodeRecord(record(garbage, { 'event-type': 'wxmesh.behaviour.v1.FromTheFuture' }), KNOWN_EVENT_TYPES),
      { skipped: 'unknown_type' },
    );
    assert.deepEqual(
      decodeRecord(record(garbage, { 'schema-version': Buffer.from('2') }), KNOWN_EVENT_TYPES),
      {
        skipped: 'schema_version',
      },
    );
  });

  it('skips a payload this build does not know, and a known payload outside the consumer’s types', () => {
    const unknownPayload = new Uint8Array([
      ...toBinary(BehaviourEventSchema, create(BehaviourEventSchema)),
      0xe2,
      0x03,
      0,
    ]);
    assert.deepEqual(decodeRecord(record(unknownPayload), KNOWN_EVENT_TYPES), { skipped: 'unknown_type' });
    const onlyPayments = new Set(['wxmesh.behaviour.v1.PaymentSucceeded']);
    assert.deepEqual(decodeRecord(record(encodeBehaviourEvent(event)), onlyPayments), {
      skipped: 'unknown_type',
    });
  });

  it('sends undecodable bytes, a missing value and an invalid event to the dead letters', () => {
    const undecodable = decodeRecord(record(new Uint8Array([0x0a, 0xff])), KNOWN_EVENT_TYPES);
    assert.ok('dead' in undecodable && undecodable.dead === 'undecodable');
    const empty = decodeRecord(record(null), KNOWN_EVENT_TYPES);
    assert.ok('dead' in empty && empty.dead === 'undecodable');
    assert.match(String(empty.error), /no value/);
    const noOpenid = behaviourEvent({ ...init, wechat: { openid: '' } });
    const invalid = decodeRecord(record(toBinary(BehaviourEventSchema, noOpenid)), KNOWN_EVENT_TYPES);
    assert.ok('dead' in invalid && invalid.dead === 'invalid');
    assert.ok(invalid.error instanceof InvalidBehaviourEventError);
  });
});

describe('headerString', () => {
  it('reads the first value of a string, Buffer or array header', () => {
    assert.equal(headerString('a'), 'a');
    assert.equal(headerString(Buffer.from('b')), 'b');
    assert.equal(headerString([Buffer.from('c'), 'd']), 'c');
    assert.equal(headerString([]), undefined);
    assert.equal(headerString(undefined), undefined);
  });
});
