import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseGwArgs } from './cli.js';
import { DEMO_APPID, localMesh, singleEndpoint } from './local-mesh.js';
import { defaultCaller, resolveMethod, SERVICES } from './resolve.js';

describe('resolveMethod', () => {
  it('finds a method by short or full service name', () => {
    assert.equal(resolveMethod('AuthVerifyService/Login').method.name, 'Login');
    assert.equal(
      resolveMethod('/wxmesh.session.v1.SessionService/Attach').method.methodKind,
      'server_streaming',
    );
  });

  it('names what exists when the service or method is unknown', () => {
    assert.throws(() => resolveMethod('Nope/Login'), /unknown service "Nope": one of .*AuthVerifyService/);
    assert.throws(
      () => resolveMethod('SessionService/Nope'),
      /SessionService has no method "Nope": one of .*GetSession/,
    );
    assert.throws(() => resolveMethod('SessionService/GetSession/x'), /unknown service/);
  });

  it('sees every service of the contracts', () => {
    assert.deepEqual(SERVICES.map((s) => s.name).sort(), [
      'AuthVerifyService',
      'BehaviourViewService',
      'EchoService',
      'MessageRouterService',
      'PaymentService',
      'SessionService',
    ]);
  });
});

describe('defaultCaller follows the audience each RPC declares', () => {
  const caller = (name: string) => defaultCaller(resolveMethod(name).method);
  it('the cloud gateway for PUBLIC and EDGE RPCs', () => {
    assert.equal(caller('AuthVerifyService/Login'), 'gateway');
    assert.equal(caller('PaymentService/GetPaymentParams'), 'gateway');
  });
  it('the first declared peer for INTERNAL ones', () => {
    assert.deepEqual(caller('MessageRouterService/RouteMessage'), { peer: 'business-backend' });
    assert.deepEqual(caller('SessionService/Deliver'), { peer: 'message-router' });
  });
  it('operator for OPERATOR-only ones', () => {
    assert.deepEqual(caller('BehaviourViewService/GetFunnel'), { peer: 'operator' });
  });
});

describe('parseGwArgs', () => {
  it('reads the method, the body and the user, with the demo appid by default', () => {
    const command = parseGwArgs(['EchoService/Echo', '{"message":"hi"}', '--openid', 'o_me']);
    assert.equal(command.method, 'EchoService/Echo');
    assert.equal(command.body, '{"message":"hi"}');
    assert.deepEqual(command.options.user, { openid: 'o_me', appid: DEMO_APPID, unionid: undefined });
    assert.equal(parseGwArgs(['EchoService/Echo']).body, '{}');
  });

  it('refuses a malformed trace id, a bad --max and a missing method', () => {
    assert.throws(() => parseGwArgs(['EchoService/Echo', '--trace-id', 'abc']), /--trace-id/);
    assert.throws(() => parseGwArgs(['EchoService/Echo', '--trace-id', '0'.repeat(32)]), /--trace-id/);
    assert.throws(() => parseGwArgs(['EchoService/Echo', '--max', '0']), /--max/);
    assert.throws(() => parseGwArgs([]), /usage: npm run gw/);
  });

  it('calls as a declared peer with --peer', () => {
    assert.deepEqual(parseGwArgs(['X/Y', '--peer', 'operator']).options.as, { peer: 'operator' });
  });
});

describe('endpoints', () => {
  it("npm start's ports by protobuf service, or one ingress for all", () => {
    assert.equal(localMesh().http('wxmesh.auth.v1.AuthVerifyService'), 'http://127.0.0.1:8091');
    assert.equal(localMesh().grpc('wxmesh.payment.v1.PaymentService'), 'http://127.0.0.1:8064');
    assert.throws(() => localMesh().http('x.Unknown'), /no wxmesh service serves x.Unknown/);
    assert.equal(singleEndpoint('https://gw.example/').http('anything'), 'https://gw.example');
  });
});
