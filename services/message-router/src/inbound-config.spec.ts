// The inbound configuration fragment: apps parsed, bad values reported without echoing secrets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, defineConfig, loadConfig } from '@wxmesh/config';
import { inboundConfig } from './inbound-config.js';

const schema = defineConfig({ ...inboundConfig });
const KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';

test('defaults: no apps, /webhooks/wechat/message, 30 s claim idle, 64 KiB bodies', () => {
  const config = loadConfig(schema, {});
  assert.deepEqual(config.WECHAT_PUSH_APPS, []);
  assert.equal(config.WECHAT_PUSH_PATH, '/webhooks/wechat/message');
  assert.equal(config.INBOUND_CLAIM_IDLE, 30_000);
  assert.equal(config.INBOUND_MAX_BODY, 65_536);
  assert.equal(config.INBOUND_ACCEPT_DEADLINE, 3_000);
});

test('WECHAT_PUSH_APPS: safe-mode and plain-mode apps', () => {
  const config = loadConfig(schema, {
    WECHAT_PUSH_APPS: `wx0123456789abcdef:tok3n:${KEY}, wxfedcba9876543210:plain`,
    INBOUND_CLAIM_IDLE: '2m',
  });
  assert.deepEqual(config.WECHAT_PUSH_APPS, [
    { appid: 'wx0123456789abcdef', token: 'tok3n', encodingAesKey: KEY },
    { appid: 'wxfedcba9876543210', token: 'plain' },
  ]);
  assert.equal(config.INBOUND_CLAIM_IDLE, 120_000);
});

test('bad values name the variable and never echo the token or key', () => {
  for (const bad of [`wx1:tok3n:${KEY.slice(1)}`, 'wx1', `wx1:tok3n:${KEY}:extra`, 'wx1:a,wx1:b']) {
    assert.throws(
      () => loadConfig(schema, { WECHAT_PUSH_APPS: bad }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.issues.some((i) => i.variable === 'WECHAT_PUSH_APPS') &&
        !err.message.includes('tok3n') &&
        !err.message.includes(KEY.slice(1, 20)),
    );
  }
  assert.throws(() => loadConfig(schema, { INBOUND_ACCEPT_DEADLINE: '5s' }), /INBOUND_ACCEPT_DEADLINE/);
  assert.throws(() => loadConfig(schema, { WECHAT_PUSH_PATH: 'wechat/push/' }), /WECHAT_PUSH_PATH/);
});
