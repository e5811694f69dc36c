import { getOption, hasOption, toJson, type DescMessage } from '@bufbuild/protobuf';
import {
  field as fieldRules,
  FieldRulesSchema,
  message as messageRules,
  MessageRulesSchema,
  oneof as oneofRules,
  OneofRulesSchema,
} from '@bufbuild/protovalidate/gen/buf/validate/validate_pb.js';
import { BehaviourEventSchema, type BehaviourEvent } from '@wxmesh/contracts';
import { isDeepStrictEqual } from 'node:util';

// The protovalidate rules of behaviour_event.proto (and every message it contains) that
// passesEventRules implements, as toJson renders them. If the schema's rules ever differ from
// these, the shortcut is off and every event goes through protovalidate (event-rules.spec.ts fails
// too, so the shortcut gets updated rather than silently lost).
const SHORTCUT_RULES = {
  'wxmesh.behaviour.v1.BehaviourEvent.payload': { required: true },
  'wxmesh.behaviour.v1.BehaviourEvent.event_id': {
    string: { minLen: '1', maxLen: '128', pattern: '^[0-9A-Za-z._~:-]+$' },
  },
  'wxmesh.behaviour.v1.BehaviourEvent.aggregate_id': { string: { minLen: '1', maxLen: '256' } },
  'wxmesh.behaviour.v1.BehaviourEvent.occurred_at': { required: true },
  'wxmesh.behaviour.v1.BehaviourEvent.producer': { string: { minLen: '1', maxLen: '64' } },
  'wxmesh.behaviour.v1.BehaviourEvent.wechat': {
    cel: [{ id: 'wechat.openid', message: 'wechat.openid is required', expression: "this.openid != ''" }],
    required: true,
  },
};

/** Every protovalidate rule on `schema` and the messages it contains, keyed by element name. */
export function validationRulesOf(schema: DescMessage): Record<string, unknown> {
  const rules: Record<string, unknown> = {};
  const seen = new Set<DescMessage>();
  const walk = (desc: DescMessage) => {
    if (seen.has(desc)) return;
    seen.add(desc);
    if (hasOption(desc, messageRules))
      rules[desc.typeName] = toJson(MessageRulesSchema, getOption(desc, messageRules));
    for (const oneof of desc.oneofs) {
      if (hasOption(oneof, oneofRules))
        rules[`${desc.typeName}.${oneof.name}`] = toJson(OneofRulesSchema, getOption(oneof, oneofRules));
    }
    for (const field of desc.fields) {
      if (hasOption(field, fieldRules))
        rules[`${desc.typeName}.${field.name}`] = toJson(FieldRulesSchema, getOption(field, fieldRules));
      if (field.message !== undefined) walk(field.message);
    }
  };
  walk(schema);
  return rules;
}

/** True when the schema's rules are exactly the ones {@link passesEventRules} implements. */
export const EVENT_RULES_SHORTCUT = isDeepStrictEqual(
  validationRulesOf(BehaviourEventSchema),
  SHORTCUT_RULES,
);

const EVENT_ID = /^[0-9A-Za-z._~:-]+$/u;

/**
 * The rules of SHORTCUT_RULES written out. It may reject a valid event (an id of more than 256
 * UTF-16 units can still be 256 code points) but never accepts an invalid one; a rejected event
 * goes through protovalidate, whose verdict and violations are the answer.
 */
export function passesEventRules(event: BehaviourEvent): boolean {
  const { eventId, aggregateId, producer, wechat } = event;
  return (
    eventId.length >= 1 &&
    eventId.length <= 128 && // the pattern admits ASCII only: UTF-16 units are code points
    EVENT_ID.test(eventId) &&
    aggregateId.length >= 1 && // code points <= UTF-16 units, and >= 1 when there is one
    aggregateId.length <= 256 &&
    event.occurredAt !== undefined &&
    producer.length >= 1 &&
    producer.length <= 64 &&
    wechat !== undefined &&
    wechat.openid !== '' &&
    event.payload.case !== undefined
  );
}
