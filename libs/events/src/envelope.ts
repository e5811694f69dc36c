import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { pathToString } from '@bufbuild/protobuf/reflect';
import { timestampFromDate, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { createValidator, type Validator } from '@bufbuild/protovalidate';
import { BehaviourEventSchema, WeChatContextSchema, type BehaviourEvent } from '@wxmesh/contracts';
import type { WeChatIdentity } from '@wxmesh/telemetry';
import { createBinaryDecoder } from './fast/binary-decoder.js';
import { EVENT_RULES_SHORTCUT, passesEventRules } from './fast/event-rules.js';

/**
 * The `schema-version` header of every behaviour record. Bump it only for a change consumers
 * cannot read with the current schema (the proto itself evolves compatibly under buf breaking).
 */
export const SCHEMA_VERSION = '1';

/** A set payload of the `BehaviourEvent` oneof, as stored on a message. */
export type BehaviourPayload = Exclude<BehaviourEvent['payload'], { case: undefined }>;

/**
 * A payload as {@link behaviourEvent} takes it: the oneof case and the payload message or a
 * plain object of its fields, e.g. `{ case: 'sessionStarted', value: { sessionId } }`.
 */
export type BehaviourPayloadInit = Exclude<
  NonNullable<MessageInitShape<typeof BehaviourEventSchema>['payload']>,
  { case: undefined }
>;

/** What {@link behaviourEvent} builds an event from. */
export interface BehaviourEventInit {
  /** Unique and stable: a re-emitted event (retry, redelivered webhook) must keep its id. */
  eventId: string;
  /** The entity the event is about, typed by prefix: `session:<id>`, `payment:<out_trade_no>`. */
  aggregateId: string;
  /** The aggregate's version after this event, when the producer tracks one. */
  aggregateVersion?: bigint | number;
  /** When it happened, by the producer's clock: a Date or epoch milliseconds. */
  occurredAt: Date | number;
  /** The producing service, e.g. `session`. */
  producer: string;
  /** Whose behaviour it is; `openid` is the record key and is required. */
  wechat: WeChatIdentity & { openid: string };
  payload: BehaviourPayloadInit;
}

/**
 * Builds a `BehaviourEvent` envelope. It checks only what it converts (the time and the
 * version); the schema's rules (ids, openid, payload) are checked by
 * {@link encodeBehaviourEvent}, so an event built here can still be rejected there.
 */
export function behaviourEvent(init: BehaviourEventInit): BehaviourEvent {
  const occurredAt = init.occurredAt instanceof Date ? init.occurredAt.getTime() : init.occurredAt;
  if (!Number.isFinite(occurredAt)) {
    throw new Error(
      `behaviourEvent: occurredAt must be a valid Date or epoch milliseconds, got ${init.occurredAt}`,
    );
  }
  return create(BehaviourEventSchema, {
    eventId: init.eventId,
    aggregateId: init.aggregateId,
    aggregateVersion: init.aggregateVersion === undefined ? undefined : toVersion(init.aggregateVersion),
    occurredAt:
      init.occurredAt instanceof Date ? timestampFromDate(init.occurredAt) : timestampFromMs(occurredAt),
    producer: init.producer,
    wechat: create(WeChatContextSchema, {
      openid: init.wechat.openid,
      appid: init.wechat.appid,
      unionid: init.wechat.unionid,
      fromOpenid: init.wechat.fromOpenid,
      fromAppid: init.wechat.fromAppid,
      env: init.wechat.env,
      source: init.wechat.source,
    }),
    payload: init.payload,
  });
}

function toVersion(version: bigint | number): bigint {
  const ok = typeof version === 'bigint' ? version >= 0n : Number.isSafeInteger(version) && version >= 0;
  if (!ok) throw new Error(`behaviourEvent: aggregateVersion must be a non-negative integer, got ${version}`);
  return BigInt(version);
}

const PAYLOAD_TYPES: ReadonlyMap<string, string> = new Map(
  BehaviourEventSchema.fields.flatMap((field) =>
    field.oneof?.name === 'payload' && field.message !== undefined
      ? [[field.localName, field.message.typeName] as const]
      : [],
  ),
);

/**
 * The event's type, the full protobuf name of its payload message (e.g.
 * `wxmesh.behaviour.v1.SessionStarted`): the `event-type` record header, so consumers can route
 * or skip a record without decoding it. Throws for an event without a payload.
 */
export function eventType(event: BehaviourEvent): string {
  const type = event.payload.case === undefined ? undefined : PAYLOAD_TYPES.get(event.payload.case);
  if (type === undefined)
    throw new Error(`BehaviourEvent ${event.eventId || '(no event_id)'} has no payload`);
  return type;
}

/** One broken rule of an invalid event. */
export interface EventViolation {
  /** The field path, e.g. `event_id` or `wechat`; empty for a rule on the whole message. */
  field: string;
  /** The rule's id, e.g. `string.min_len` or `wechat.openid`. */
  rule: string;
  message: string;
}

/** Thrown for an event that breaks the schema's rules; its message names every violated field. */
export class InvalidBehaviourEventError extends Error {
  override readonly name = 'InvalidBehaviourEventError';
  constructor(
    readonly eventId: string,
    readonly violations: readonly EventViolation[],
  ) {
    super(
      `invalid BehaviourEvent ${eventId || '(no event_id)'}: ${violations
        .map((v) => `${v.field || '(message)'}: ${v.message} [${v.rule}]`)
        .join('; ')}`,
    );
  }
}

let validator: Validator | undefined;

// The schema's patterns are ours (anchored character classes, no nested quantifiers), so V8's
// RegExp is safe here and several times cheaper than the bundled RE2; libs/rpc does the same.
function eventValidator(): Validator {
  if (validator !== undefined) return validator;
  const compiled = new Map<string, RegExp>();
  validator = createValidator({
    regexMatch(pattern, against) {
      let regex = compiled.get(pattern);
      if (regex === undefined) {
        regex = new RegExp(pattern, 'u');
        compiled.set(pattern, regex);
      }
      return regex.test(against);
    },
  });
  return validator;
}

/**
 * Checks the event against the protovalidate rules in behaviour_event.proto (event_id shape,
 * aggregate_id, occurred_at, producer, wechat.openid, a payload). Throws
 * {@link InvalidBehaviourEventError} listing every violation; consumers can use it to send a
 * record they decoded but must not apply to the dead-letter topic.
 *
 * A valid event is recognised by a direct check of those rules (fast/event-rules.ts: about 30
 * times cheaper than protovalidate, 1.46x on the consumer's decode+validate; see fast/README.md);
 * anything it does not accept, and every event once the schema's rules change, is judged by
 * protovalidate itself ({@link validateWithProtovalidate}).
 */
export function validateBehaviourEvent(event: BehaviourEvent): void {
  if (EVENT_RULES_SHORTCUT && passesEventRules(event)) return;
  validateWithProtovalidate(event);
}

/**
 * The library path and the reference of the shortcut in fast/event-rules.ts: protovalidate's
 * verdict on the event, {@link InvalidBehaviourEventError} with every violation when it is invalid.
 */
export function validateWithProtovalidate(event: BehaviourEvent): void {
  const result = eventValidator().validate(BehaviourEventSchema, event);
  if (result.kind === 'valid') return;
  if (result.kind === 'error') throw result.error;
  throw new InvalidBehaviourEventError(
    event.eventId,
    result.error.violations.map((v) => ({
      field: pathToString(v.field),
      rule: v.ruleId,
      message: v.message,
    })),
  );
}

/**
 * The record value for an event: validated ({@link validateBehaviourEvent}, which throws
 * {@link InvalidBehaviourEventError}), then serialised as protobuf binary. Nothing invalid is
 * ever written to the topic, because the topic is kept forever.
 */
export function encodeBehaviourEvent(event: BehaviourEvent): Uint8Array {
  validateBehaviourEvent(event);
  return toBinary(BehaviourEventSchema, event);
}

const decodeEvent = createBinaryDecoder(BehaviourEventSchema);

/**
 * Parses a record value. Throws on bytes that are not a `BehaviourEvent`; does not validate
 * (call {@link validateBehaviourEvent} when the consumer needs the rules to hold). The result
 * and the errors are those of protobuf-es' `fromBinary`, at a fraction of its cost for the
 * well-formed records a topic carries (see fast/binary-decoder.ts).
 */
export function decodeBehaviourEvent(bytes: Uint8Array): BehaviourEvent {
  return decodeEvent(bytes);
}

/** The event's identity as the telemetry helpers take it; empty strings are absent fields. */
export function identityOf(event: BehaviourEvent): WeChatIdentity {
  const id: WeChatIdentity = {};
  const w = event.wechat;
  if (w === undefined) return id;
  if (w.openid !== '') id.openid = w.openid;
  if (w.appid !== '') id.appid = w.appid;
  if (w.unionid !== '') id.unionid = w.unionid;
  if (w.fromOpenid !== '') id.fromOpenid = w.fromOpenid;
  if (w.fromAppid !== '') id.fromAppid = w.fromAppid;
  if (w.env !== '') id.env = w.env;
  if (w.source !== '') id.source = w.source;
  return id;
}
