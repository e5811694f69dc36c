import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import type { Caller } from '@wxmesh/rpc';
import { assertLoginApp, assertLoginUser } from './login-caller.js';

const viaGateway = (openid: string, appid?: string): Caller => ({
  kind: 'user',
  via: 'gateway',
  identity: appid === undefined ? { openid } : { openid, appid },
});
const denied = (err: ConnectError) => err.code === Code.PermissionDenied;

test('anonymous callers and mesh peers log in for whoever the code names', () => {
  for (const caller of [
    { kind: 'anonymous' } as const,
    { kind: 'peer', peer: 'business-backend', identity: { openid: 'o_other', appid: 'wxb' } } as const,
  ]) {
    assertLoginApp(caller, 'wxa');
    assertLoginUser(caller, 'o_a');
  }
});

test('behind the gateway: the gateway’s app and user, or PermissionDenied', () => {
  assertLoginApp(viaGateway('o_a', 'wxa'), 'wxa');
  assertLoginUser(viaGateway('o_a', 'wxa'), 'o_a');
  assert.throws(() => assertLoginApp(viaGateway('o_a', 'wxa'), 'wxb'), denied);
  assert.throws(
    () => assertLoginUser(viaGateway('o_a', 'wxa'), 'o_b'),
    (err: ConnectError) => denied(err) && !err.rawMessage.includes('o_b'),
  );
  assertLoginApp(viaGateway('o_a'), 'wxb'); // a gateway that sent no appid constrains none
});

test('a session-token user is not constrained by the gateway rules', () => {
  const bySession: Caller = { kind: 'user', via: 'session', identity: { openid: 'o_a', appid: 'wxa' } };
  assertLoginApp(bySession, 'wxb');
  assertLoginUser(bySession, 'o_b');
});
