import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { BehaviourEventSchema, SessionEndReason, UserLoggedInSchema } from '@wxmesh/contracts';
import {
  behaviourEvent,
  decodeBehaviourEvent,
  encodeBehaviourEvent,
  eventType,
  InvalidBehaviourEventError,
  validateBehaviourEvent,
  type BehaviourEventInit,
} from './envelope.js';

const OPENID = 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o';

function init(overrides: Partial<BehaviourEventInit> = {}): BehaviourEventInit {
  return {
    eventId: 'evt-1',
    aggregateId: 'session:s1',
    occurredAt: 1_700_000_000_123,
    producer: 'session',
    wechat: { openid: OPENID, appid: 'wx1234567890abcdef' },
    payload: { case: 'sessionStarted', value: { sessionId: 's1' } },
    ...overrides,
  };
}

/** The violations an invalid event is rejected with, as `field [rule]`. */
function violationsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof InvalidBehaviourEventError, `expected InvalidBehaviourEventError, got ${err}`);
    return err.violations.map((v) => `${v.field} [${v.rule}]`);
  }
  assert.fail('expected the event to be rejected');
}

describe('behaviourEvent', () => {
  it('builds the envelope from plain fields, the time from epoch ms or a Date', () => {
    const event = behaviourEvent(init({ aggregateVersion: 7 }));
    assert.equal(event.eventId, 'evt-1');
    assert.equal(event.aggregateId, 'session:s1');
    assert.equal(event.aggregateVersion, 7n);
    assert.equal(event.producer, 'session');
    assert.equal(timestampMs(event.occurredAt!), 1_700_000_000_123);
    assert.equal(event.wechat?.openid, OPENID);
    assert.equal(event.wechat?.appid, 'wx1234567890abcdef');
    assert.equal(event.wechat?.unionid, '');
    assert.equal(event.payload.case, 'sessionStarted');
    assert.equal(event.payload.value.sessionId, 's1');

    const fromDate = behaviourEvent(init({ occurredAt: new Date(1_700_000_000_456) }));
    assert.equal(timestampMs(fromDate.occurredAt!), 1_700_000_000_456);
    assert.equal(behaviourEvent(init()).aggregateVersion, undefined, 'absent version stays unset');
  });

  it('accepts a payload message as well as its fields', () => {
    const value = create(UserLoggedInSchema, { sessionId: 's9' });
    const event = behaviourEvent(init({ payload: { case: 'userLoggedIn', value } }));
    assert.equal(event.payload.case, 'userLoggedIn');
    assert.equal(event.payload.value.sessionId, 's9');
  });

  it('rejects a time or version it cannot convert', () => {
    assert.throws(() => behaviourEvent(init({ occurredAt: new Date('nope') })), /occurredAt/);
    assert.throws(() => behaviourEvent(init({ occurredAt: Number.NaN })), /occurredAt/);
    assert.throws(() => behaviourEvent(init({ aggregateVersion: -1 })), /aggregateVersion/);
    assert.throws(() => behaviourEvent(init({ aggregateVersion: 1.5 })), /aggregateVersion/);
    assert.throws(() => behaviourEvent(init({ aggregateVersion: -1n })), /aggregateVersion/);
  });
});

describe('eventType', () => {
  it('is the payload message type name', () => {
    assert.equal(eventType(behaviourEvent(init())), 'wxmesh.behaviour.v1.SessionStarted');
    const ended = behaviourEvent(
      init({
        payload: {
          case: 'sessionEnded',
          value: { sessionId: 's1', reason: SessionEndReason.LOGOUT },
        },
      }),
    );
    assert.equal(eventType(ended), 'wxmesh.behaviour.v1.SessionEnded');
    const oauth = behaviourEvent(
      init({ payload: { case: 'oauthAuthorized', value: { scopes: ['snsapi_base'] } } }),
    );
    assert.equal(eventType(oauth), 'wxmesh.behaviour.v1.OAuthAuthorized');
  });

  it('throws for an event without a payload', () => {
    assert.throws(() => eventType(create(BehaviourEventSchema, { eventId: 'e' })), /no payload/);
  });
});

describe('encodeBehaviourEvent / decodeBehaviourEvent', () => {
  it('round-trips every field', () => {
    const event = behaviourEvent(
      init({
        aggregateVersion: 12n,
        wechat: {
          openid: OPENID,
          appid: 'wx1234567890abcdef',
          unionid: 'u1',
          fromOpenid: 'o2',
          fromAppid: 'wx2',
          env: 'prod-1',
          source: 'wx_client',
        },
        payload: {
          case: 'paymentSucceeded',
          value: {
            outTradeNo: 'T1',
            transactionId: '42',
            amountTotal: 100,
            payerTotal: 90,
            currency: 'CNY',
            paidAt: { seconds: 1_700_000_000n, nanos: 5 },
          },
        },
      }),
    );
    assert.deepEqual(decodeBehaviourEvent(encodeBehaviourEvent(event)), event);
  });

  it('rejects an event without openid, naming the field, before encoding', () => {
    const event = behaviourEvent(init({ wechat: { openid: '' } }));
    assert.deepEqual(
      violationsOf(() => encodeBehaviourEvent(event)),
      ['wechat [wechat.openid]'],
    );
    assert.throws(() => encodeBehaviourEvent(event), /wechat\.openid is required/);
  });

  it('reports every broken rule: ids, producer, time, identity, payload', () => {
    const noWechat = create(BehaviourEventSchema, { eventId: 'bad id', aggregateId: '', producer: '' });
    assert.deepEqual(violationsOf(() => validateBehaviourEvent(noWechat)).sort(), [
      'aggregate_id [string.min_len]',
      'event_id [string.pattern]',
      'occurred_at [required]',
      'payload [required]',
      'producer [string.min_len]',
      'wechat [required]',
    ]);
  });

  it('decode rejects bytes that are not an event, and does not validate', () => {
    assert.throws(() => decodeBehaviourEvent(new Uint8Array([0x0a, 0xff])));
    const unvalidated = create(BehaviourEventSchema, { eventId: 'x' });
    assert.equal(decodeBehaviourEvent(toBinary(BehaviourEventSchema, unvalidated)).eventId, 'x');
  });
});
