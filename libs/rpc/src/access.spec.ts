import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { EchoService, RevokeReason, SessionService } from '@wxmesh/contracts';
import { asGatewayUser, asPeer, withBearer, withHeaders, type HeaderInterceptor } from '@wxmesh/testing';
import { Registry } from 'prom-client';
import {
  actingFor,
  createLogger,
  defineService,
  echoService,
  RpcServer,
  type CallerPolicy,
  type VerifiedSession,
} from './index.js';

// The kit's caller model on a real server, both ports: who the kit says is calling, and which
// audiences it serves where. SessionService's real descriptor carries the audiences (EDGE,
// INTERNAL for auth-verify, OPERATOR); its handlers here only report what the kit resolved.

const logger = createLogger({ name: 'access-test', level: 'silent' });
const SESSIONS: Record<string, VerifiedSession> = {
  'tok-alice': { sessionId: 's1', openid: 'o_alice', appid: 'wx0123456789abcdef', unionid: '' },
};
let verifierDown = false;
const NEW_SESSION = { appid: 'wx0123456789abcdef', openid: 'o_alice' };
const policy = (behindGateway: boolean, peerIdentity: CallerPolicy['peerIdentity']): CallerPolicy => ({
  behindGateway,
  peerIdentity,
  verifySessionToken: async (token) => {
    if (verifierDown) throw new ConnectError('auth-verify is unavailable', Code.Unavailable);
    return SESSIONS[token];
  },
});

const sessionProbe = defineService(SessionService, {
  listSessions: (request, ctx) => ({
    sessions: [{ openid: actingFor(ctx, request.openid, 'openid'), sessionId: ctx.caller.kind }],
  }),
  createSession: (_request, ctx) => ({
    session: {
      openid: ctx.wechat.openid ?? '',
      sessionId: ctx.caller.kind === 'peer' ? ctx.caller.peer : '',
    },
  }),
  revokeSession: () => ({ revoked: true }),
});

interface Running {
  server: RpcServer;
  http: string;
  grpc: string;
}
async function start(callers: CallerPolicy): Promise<Running> {
  const server = new RpcServer({
    name: 'access-test',
    services: [sessionProbe, echoService],
    logger,
    registry: new Registry(),
    callers,
  });
  const ports = await server.start();
  return { server, http: `http://127.0.0.1:${ports.httpPort}`, grpc: `http://127.0.0.1:${ports.grpcPort}` };
}

const edge = (r: Running, ...interceptors: HeaderInterceptor[]): Client<typeof SessionService> =>
  createClient(SessionService, createConnectTransport({ baseUrl: r.http, httpVersion: '1.1', interceptors }));
const mesh = (r: Running, ...interceptors: HeaderInterceptor[]): Client<typeof SessionService> =>
  createClient(SessionService, createGrpcTransport({ baseUrl: r.grpc, interceptors }));
const code = (expected: Code, text?: RegExp) => (err: unknown) => {
  const e = ConnectError.from(err);
  assert.equal(Code[e.code], Code[expected], e.message);
  if (text) assert.match(e.rawMessage, text);
  return true;
};

let gateway: Running;
let direct: Running;
let inMesh: Running;
before(async () => {
  gateway = await start(policy(true, 'declared'));
  direct = await start(policy(false, 'declared'));
  inMesh = await start(policy(false, 'mtls'));
});
after(async () => {
  await Promise.all([gateway, direct, inMesh].map((r) => r?.server.shutdown()));
});

describe('the http port', () => {
  test('an RPC not served at the edge answers exactly like an unknown method', async () => {
    const post = (path: string) =>
      fetch(`${gateway.http}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-wx-openid': 'o_alice' },
        body: '{}',
      });
    const internal = await post('/wxmesh.session.v1.SessionService/CreateSession');
    const unknown = await post('/wxmesh.session.v1.SessionService/NoSuchMethod');
    assert.equal(internal.status, 404);
    assert.equal(unknown.status, 404);
    const [a, b] = [
      (await internal.json()) as { code: string; message: string },
      (await unknown.json()) as { code: string; message: string },
    ];
    assert.equal(a.code, 'not_found');
    assert.equal(a.message.replace('CreateSession', 'X'), b.message.replace('NoSuchMethod', 'X'));
    await assert.rejects(
      edge(gateway, asGatewayUser({ openid: 'o_alice' })).createSession({}),
      code(Code.NotFound),
    );
  });

  test('an EDGE RPC without a user is Unauthenticated', async () => {
    await assert.rejects(edge(gateway).listSessions({}), code(Code.Unauthenticated, /signed-in user/));
  });

  test('behind the gateway, X-WX-OPENID is the caller; the body may name only them', async () => {
    const alice = edge(gateway, asGatewayUser({ openid: 'o_alice', appid: 'wx0123456789abcdef' }));
    const mine = await alice.listSessions({});
    assert.deepEqual(
      mine.sessions.map((s) => [s.openid, s.sessionId]),
      [['o_alice', 'user']],
    );
    assert.equal((await alice.listSessions({ openid: 'o_alice' })).sessions[0]?.openid, 'o_alice');
    await assert.rejects(
      alice.listSessions({ openid: 'o_bob' }),
      code(Code.PermissionDenied, /openid names another user/),
    );
  });

  test('where no gateway is, X-WX-* headers are refused, never believed', async () => {
    await assert.rejects(
      edge(direct, asGatewayUser({ openid: 'o_alice' })).listSessions({}),
      code(Code.Unauthenticated, /not behind the WeChat cloud gateway/),
    );
    // Even on a PUBLIC RPC: a forged identity must not travel on.
    const echo = createClient(
      EchoService,
      createConnectTransport({
        baseUrl: direct.http,
        httpVersion: '1.1',
        interceptors: [asGatewayUser({ openid: 'o_x' })],
      }),
    );
    await assert.rejects(echo.echo({ message: 'hi' }), code(Code.Unauthenticated));
  });

  test('a session token is the caller once verified; unknown ones and outages say so', async () => {
    const alice = edge(direct, withBearer('tok-alice'));
    assert.equal((await alice.listSessions({})).sessions[0]?.openid, 'o_alice');
    await assert.rejects(alice.listSessions({ openid: 'o_bob' }), code(Code.PermissionDenied));
    await assert.rejects(
      edge(direct, withBearer('tok-revoked')).listSessions({}),
      code(Code.Unauthenticated, /unknown, expired or revoked/),
    );
    await assert.rejects(
      edge(direct, withHeaders({ authorization: 'Basic abc' })).listSessions({}),
      code(Code.Unauthenticated, /Bearer/),
    );
    verifierDown = true;
    try {
      await assert.rejects(alice.listSessions({}), code(Code.Unavailable));
    } finally {
      verifierDown = false;
    }
  });

  test('one source only: gateway headers and a token together are refused', async () => {
    await assert.rejects(
      edge(gateway, asGatewayUser({ openid: 'o_alice' }), withBearer('tok-alice')).listSessions({}),
      code(Code.Unauthenticated, /not both/),
    );
  });
});

describe('the grpc port', () => {
  test('an INTERNAL RPC needs a peer, and one its proto allows', async () => {
    await assert.rejects(mesh(direct).createSession({}), code(Code.Unauthenticated, /mesh peers only/));
    await assert.rejects(
      mesh(direct, asPeer('payment-callback')).createSession({}),
      code(Code.PermissionDenied, /not served to mesh peer payment-callback \(only to auth-verify\)/),
    );
    const created = await mesh(direct, asPeer('auth-verify', { openid: 'o_alice' })).createSession(
      NEW_SESSION,
    );
    assert.deepEqual([created.session?.sessionId, created.session?.openid], ['auth-verify', 'o_alice']);
  });

  test('an EDGE RPC is not served to peers; OPERATOR ones are served to the operator only', async () => {
    await assert.rejects(
      mesh(direct, asPeer('auth-verify')).listSessions({ openid: 'o_alice' }),
      code(Code.PermissionDenied, /only to operator/),
    );
    const listed = await mesh(direct, asPeer('operator')).listSessions({ openid: 'o_bob' });
    assert.equal(listed.sessions[0]?.openid, 'o_bob');
    await assert.rejects(mesh(direct, asPeer('operator')).listSessions({}), code(Code.InvalidArgument));
    await mesh(direct, asPeer('operator')).revokeSession({
      target: { case: 'sessionToken', value: 'tok-alice' },
      reason: RevokeReason.REVOCATION,
    });
  });

  test('identity metadata without a peer is dropped, not forwarded', async () => {
    const echo = createClient(
      EchoService,
      createGrpcTransport({ baseUrl: direct.grpc, interceptors: [asGatewayUser({ openid: 'o_forged' })] }),
    );
    assert.deepEqual((await echo.echo({ message: 'x' })).wechat?.openid, '');
  });

  test('in the mesh, the peer is the SPIFFE id the sidecar reports, not a declared name', async () => {
    const xfcc = (account: string, namespace = 'wxmesh') =>
      withHeaders({
        'x-forwarded-client-cert':
          `By=spiffe://cluster.local/ns/wxmesh/sa/session;Hash=ab;Subject="";` +
          `URI=spiffe://cluster.local/ns/${namespace}/sa/${account}`,
      });
    const created = await mesh(inMesh, xfcc('auth-verify')).createSession(NEW_SESSION);
    assert.equal(created.session?.sessionId, 'auth-verify');
    await assert.rejects(mesh(inMesh, asPeer('auth-verify')).createSession({}), code(Code.Unauthenticated));
    await assert.rejects(
      mesh(inMesh, xfcc('auth-verify', 'other')).createSession({}),
      code(Code.PermissionDenied),
    );
  });
});
