import type { BehaviourEvent } from '@wxmesh/contracts';
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { decodeBehaviourEvent, eventType, SCHEMA_VERSION, validateBehaviourEvent } from '../envelope.js';
import type { DeadLetterReason, SkipReason } from './metrics.js';

/** What a record turned out to be: an event to apply, one to skip, or one for the dead-letter topic. */
export type DecodedRecord =
  | { event: BehaviourEvent; type: string }
  | { skipped: SkipReason }
  | { dead: DeadLetterReason; error: unknown };

const SKIP_UNKNOWN_TYPE: DecodedRecord = { skipped: 'unknown_type' };
const SKIP_SCHEMA_VERSION: DecodedRecord = { skipped: 'schema_version' };

/**
 * Decodes and validates one record: the event and its type, or why it is not applied. Headers are
 * checked first, so a record of an unknown type or another schema version is skipped undecoded.
 * Synchronous, so the common case allocates no promise.
 */
export function decodeRecord(message: KafkaMessage, knownTypes: ReadonlySet<string>): DecodedRecord {
  const headers = message.headers;
  if (headers !== undefined) {
    const headerType = headerString(headers['event-type']);
    if (headerType !== undefined && !knownTypes.has(headerType)) return SKIP_UNKNOWN_TYPE;
    const version = headerString(headers['schema-version']);
    if (version !== undefined && version !== SCHEMA_VERSION) return SKIP_SCHEMA_VERSION;
  }
  let event: BehaviourEvent;
  try {
    if (message.value === null) throw new Error('record has no value');
    event = decodeBehaviourEvent(message.value);
  } catch (error) {
    return { dead: 'undecodable', error };
  }
  if (event.payload.case === undefined && event.$unknown !== undefined && event.$unknown.length > 0) {
    return SKIP_UNKNOWN_TYPE; // a payload field this build does not know
  }
  try {
    validateBehaviourEvent(event);
  } catch (error) {
    return { dead: 'invalid', error };
  }
  const type = eventType(event);
  if (!knownTypes.has(type)) return SKIP_UNKNOWN_TYPE;
  return { event, type };
}

/** A header's first value as text. */
export function headerString(value: IHeaders[string]): string | undefined {
  if (value === undefined) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}
