import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { createValidator } from '@bufbuild/protovalidate';
import {
  BehaviourEventSchema,
  GetPresenceBatchRequestSchema,
  LoginRequestSchema,
  SendSubscribeMessagesRequestSchema,
} from './index.js';

// These prove the protovalidate rules are compiled into the generated descriptors and that the
// rewritten validate_pb import (from @bufbuild/protovalidate) resolves at runtime.
const validator = createValidator();
const appid = 'wx0123456789abcdef';

function violations(result: ReturnType<typeof validator.validate>): string[] {
  assert.notEqual(result.kind, 'error', result.kind === 'error' ? String(result.error) : '');
  return result.kind === 'invalid' ? result.violations.map((v) => v.toString()) : [];
}

describe('protovalidate rules', () => {
  it('accepts a well-formed LoginRequest', () => {
    const request = create(LoginRequestSchema, {
      appid,
      jsCode: '0a3Xyz-_9',
      attributes: { 'device.model': 'iPhone' },
    });
    assert.deepEqual(violations(validator.validate(LoginRequestSchema, request)), []);
  });

  it('rejects a LoginRequest with a malformed appid or an empty js_code', () => {
    const request = create(LoginRequestSchema, { appid: 'wx0123456789ABCDEF', jsCode: '' });
    assert.deepEqual(violations(validator.validate(LoginRequestSchema, request)), [
      'appid: does not match regex pattern `^wx[0-9a-f]{16}$` [string.pattern]',
      'js_code: must be at least 1 characters [string.min_len]',
      'js_code: does not match regex pattern `^[0-9A-Za-z_-]+$` [string.pattern]',
    ]);
  });

  it('caps GetPresenceBatch at 1000 openids', () => {
    const openids = (n: number) => Array.from({ length: n }, (_, i) => `oUser_${i}`);
    const ok = create(GetPresenceBatchRequestSchema, { openids: openids(1000) });
    const over = create(GetPresenceBatchRequestSchema, { openids: openids(1001) });
    assert.deepEqual(violations(validator.validate(GetPresenceBatchRequestSchema, ok)), []);
    assert.deepEqual(violations(validator.validate(GetPresenceBatchRequestSchema, over)), [
      'openids: must contain no more than 1000 item(s) [repeated.max_items]',
    ]);
  });

  it('evaluates CEL rules (one subscribe message per openid)', () => {
    const content = { templateId: 'tmpl-1', data: { thing1: 'Coffee' } };
    const request = create(SendSubscribeMessagesRequestSchema, {
      appid,
      messageId: 'order-42',
      messages: [
        { openid: 'oA', content },
        { openid: 'oA', content },
      ],
    });
    assert.deepEqual(violations(validator.validate(SendSubscribeMessagesRequestSchema, request)), [
      'messages: each openid may appear only once [unique_openids]',
    ]);
  });

  it('requires an openid and a payload on a BehaviourEvent', () => {
    const event = create(BehaviourEventSchema, {
      eventId: 'e-1',
      aggregateId: 'user:oA',
      producer: 'auth-verify',
      occurredAt: { seconds: 1_700_000_000n },
      wechat: { appid },
    });
    assert.deepEqual(violations(validator.validate(BehaviourEventSchema, event)), [
      'wechat: wechat.openid is required [wechat.openid]',
      'payload: exactly one field is required in oneof [required]',
    ]);
  });
});
