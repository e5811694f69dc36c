import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { createValidator } from '@bufbuild/protovalidate';
import { BehaviourEventSchema } from '@wxmesh/contracts';
import { validateBehaviourEvent } from '../envelope.js';
import { EVENT_RULES_SHORTCUT, validationRulesOf } from './event-rules.js';

describe('validateBehaviourEvent shortcut', () => {
  it('is on for the schema as it is: its rules are exactly the ones the shortcut implements', () => {
    // Fails when behaviour_event.proto's rules change: update passesEventRules and SHORTCUT_RULES.
    assert.equal(EVENT_RULES_SHORTCUT, true, JSON.stringify(validationRulesOf(BehaviourEventSchema)));
  });

  it('agrees with protovalidate on events at and around every rule', () => {
    const protovalidate = createValidator();
    const strings = [
      '',
      'a',
      'x'.repeat(64),
      'x'.repeat(65),
      'x'.repeat(128),
      'x'.repeat(129),
      'x'.repeat(256),
    ];
    const more = [
      'x'.repeat(257),
      '😀'.repeat(128),
      '😀'.repeat(129),
      'é'.repeat(256),
      'bad id',
      'a/b',
      'ok-1._~:',
    ];
    const candidates = [...strings, ...more];
    let checked = 0;
    for (const eventId of candidates) {
      for (const aggregateId of candidates) {
        for (const producer of [strings[0]!, strings[1]!, strings[2]!, strings[3]!, '😀'.repeat(64)]) {
          for (const variant of ['full', 'no-time', 'no-wechat', 'no-openid', 'no-payload'] as const) {
            const event = create(BehaviourEventSchema, {
              eventId,
              aggregateId,
              producer,
              occurredAt: variant === 'no-time' ? undefined : { seconds: 1n },
              wechat: variant === 'no-wechat' ? undefined : { openid: variant === 'no-openid' ? '' : 'o' },
              payload:
                variant === 'no-payload' ? undefined : { case: 'userLoggedIn', value: { sessionId: 's' } },
            });
            const valid = protovalidate.validate(BehaviourEventSchema, event).kind === 'valid';
            let accepted = true;
            try {
              validateBehaviourEvent(event);
            } catch {
              accepted = false;
            }
            assert.equal(accepted, valid, `${JSON.stringify({ eventId, aggregateId, producer, variant })}`);
            checked++;
          }
        }
      }
    }
    assert.equal(checked, candidates.length ** 2 * 5 * 5);
  });
});
