import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatToken, newCredentials, parseToken, secretDigest, secretMatches } from './token.js';

const counting = () => {
  let next = 0;
  return (size: number) => Buffer.from(Array.from({ length: size }, () => next++ % 256));
};

test('credentials are base64url of 16 random bytes (id) and 32 (secret), from the given source', () => {
  const { sessionId, secret } = newCredentials(counting());
  assert.equal(sessionId, Buffer.from([...Array(16).keys()]).toString('base64url'));
  assert.equal(secret, Buffer.from([...Array(32).keys()].map((i) => i + 16)).toString('base64url'));
  assert.equal(sessionId.length, 22);
  assert.equal(secret.length, 43);
});

test('a token formats as openid.session_id.secret and parses back', () => {
  const { sessionId, secret } = newCredentials(counting());
  const parts = { openid: 'o_Alice-1', sessionId, secret };
  const token = formatToken(parts);
  assert.equal(token, `o_Alice-1.${sessionId}.${secret}`);
  assert.deepEqual(parseToken(token), parts);
});

test('malformed tokens parse to undefined', () => {
  const { sessionId, secret } = newCredentials(counting());
  for (const token of [
    '',
    `o_1.${sessionId}`,
    `o_1.${sessionId}.${secret}.extra`,
    `o 1.${sessionId}.${secret}`,
    `.${sessionId}.${secret}`,
    `${'o'.repeat(129)}.${sessionId}.${secret}`,
    `o_1.${sessionId.slice(1)}.${secret}`,
    `o_1.${sessionId}.${secret}x`,
    `o_1.${sessionId}.${secret.slice(0, -1)}+`,
  ]) {
    assert.equal(parseToken(token), undefined, token);
  }
});

test('the store keeps the SHA-256 of the secret, and only the same secret matches it', () => {
  assert.equal(secretDigest('abc'), 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
  const digest = secretDigest('secret-1');
  assert.equal(secretMatches('secret-1', digest), true);
  assert.equal(secretMatches('secret-2', digest), false);
  assert.equal(secretMatches('secret-1', ''), false);
});
