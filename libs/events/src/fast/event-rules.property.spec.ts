// The validation shortcut against its reference, protovalidate, on generated events around every
// rule of behaviour_event.proto: id lengths and characters (ASCII, BMP and astral), missing time,
// identity, openid and payload.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { createValidator } from '@bufbuild/protovalidate';
import { BehaviourEventSchema, type BehaviourEvent } from '@wxmesh/contracts';
import fc from 'fast-check';
import {
  InvalidBehaviourEventError,
  validateBehaviourEvent,
  validateWithProtovalidate,
} from '../envelope.js';
import { EVENT_RULES_SHORTCUT, passesEventRules } from './event-rules.js';

const protovalidate = createValidator();

/** Characters on both sides of the event_id pattern and of the UTF-16/code-point distinction. */
const character = fc.constantFrom(
  'a',
  'Z',
  '0',
  '.',
  '_',
  '~',
  ':',
  '-',
  ' ',
  '/',
  '+',
  'é',
  '中',
  '😀',
  '\n',
);
const around = (max: number) =>
  fc.oneof(
    fc.string({ unit: character, maxLength: max + 4 }),
    fc.string({ unit: character, minLength: max - 2, maxLength: max + 2 }),
    fc.nat({ max: max + 2 }).map((n) => 'x'.repeat(n)),
  );

const event: fc.Arbitrary<BehaviourEvent> = fc
  .record({
    eventId: around(128),
    aggregateId: around(256),
    producer: around(64),
    time: fc.boolean(),
    wechat: fc.constantFrom('none', 'no-openid', 'openid'),
    payload: fc.boolean(),
  })
  .map((e) =>
    create(BehaviourEventSchema, {
      eventId: e.eventId,
      aggregateId: e.aggregateId,
      producer: e.producer,
      occurredAt: e.time ? { seconds: 1n } : undefined,
      wechat: e.wechat === 'none' ? undefined : { openid: e.wechat === 'openid' ? 'o' : '' },
      payload: e.payload ? { case: 'userLoggedIn', value: { sessionId: 's' } } : undefined,
    }),
  );

function violationsOf(validate: (event: BehaviourEvent) => void, e: BehaviourEvent): unknown {
  try {
    validate(e);
    return 'valid';
  } catch (err) {
    assert.ok(err instanceof InvalidBehaviourEventError, `expected InvalidBehaviourEventError, got ${err}`);
    return err.violations;
  }
}

describe('validation shortcut agrees with protovalidate (property)', () => {
  it('is on for the schema as it is', () => {
    assert.equal(EVENT_RULES_SHORTCUT, true);
  });

  it('accepts exactly what protovalidate accepts, and rejects with protovalidate’s violations', () => {
    fc.assert(
      fc.property(event, (e) => {
        const valid = protovalidate.validate(BehaviourEventSchema, e).kind === 'valid';
        const verdict = violationsOf(validateBehaviourEvent, e);
        assert.equal(verdict === 'valid', valid);
        assert.deepStrictEqual(verdict, violationsOf(validateWithProtovalidate, e));
      }),
      { numRuns: 5000 },
    );
  });

  it('the shortcut alone never accepts an invalid event, and accepts every valid one whose lengths are code points', () => {
    fc.assert(
      fc.property(event, (e) => {
        const valid = protovalidate.validate(BehaviourEventSchema, e).kind === 'valid';
        if (passesEventRules(e)) assert.ok(valid, 'accepted by the shortcut, so valid');
        // The shortcut counts UTF-16 units: only an id over its limit in units but not in code
        // points is left to protovalidate.
        const unitsWithinLimits = e.aggregateId.length <= 256 && e.producer.length <= 64;
        if (valid && unitsWithinLimits) assert.ok(passesEventRules(e), 'valid, so the shortcut takes it');
      }),
      { numRuns: 5000 },
    );
  });
});
