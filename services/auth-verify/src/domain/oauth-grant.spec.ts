import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import {
  chainOfGrant,
  formatRefreshToken,
  grantMessage,
  parseRefreshToken,
  rotationRefused,
} from './oauth-grant.js';

const grant = {
  accessToken: 'user-at',
  expiresInSeconds: 7200,
  refreshToken: 'wechat-rt',
  openid: 'o-web',
  unionid: undefined,
  scopes: ['snsapi_base'],
  snapshotUser: false,
};

test('a grant starts a chain whose access expires with WeChat’s and whose refresh lives the mesh’s TTL', () => {
  const chain = chainOfGrant('wx1', grant, 1_000, 60_000);
  assert.deepEqual(chain, {
    appid: 'wx1',
    openid: 'o-web',
    unionid: '',
    scopes: ['snsapi_base'],
    snapshotUser: false,
    accessToken: 'user-at',
    accessExpiresAt: 7_201_000,
    wechatRefreshToken: 'wechat-rt',
    refreshExpiresAt: 61_000,
  });
});

test('a mesh refresh token is exactly <chain id>.<secret>', () => {
  assert.deepEqual(parseRefreshToken('chain.secret'), { chainId: 'chain', secret: 'secret' });
  for (const bad of ['', 'chain', 'chain.', '.secret', 'a.b.c'])
    assert.equal(parseRefreshToken(bad), undefined, bad);
  assert.equal(formatRefreshToken({ chainId: 'c', secret: 's' }), 'c.s');
});

test('each refused rotation tells the caller what to do, with its own code', () => {
  assert.equal(rotationRefused('unknown').code, Code.Unauthenticated);
  assert.equal(rotationRefused('revoked').code, Code.Unauthenticated);
  assert.match(rotationRefused('reused').message, /revoked as a precaution/);
  assert.equal(rotationRefused('concurrent').code, Code.Aborted);
});

test('the grant message carries the chain’s tokens and both expiries', () => {
  const chain = chainOfGrant('wx1', { ...grant, unionid: 'u1', snapshotUser: true }, 1_000, 60_000);
  const message = grantMessage(chain, 'chain.next');
  assert.equal(message.refreshToken, 'chain.next');
  assert.equal(message.unionid, 'u1');
  assert.equal(message.snapshotUser, true);
  assert.equal(timestampMs(message.accessTokenExpiresAt), 7_201_000);
  assert.equal(timestampMs(message.refreshTokenExpiresAt), 61_000);
});
