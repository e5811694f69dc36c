import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  AuthVerifyService,
  BehaviourViewService,
  MessageRouterService,
  PaymentService,
  SessionService,
} from '@wxmesh/contracts';
import {
  isEdgeRpc,
  peerCallsIn,
  peerDeclarationsIn,
  principalsOutsideMesh,
  protoAllowsPeer,
} from './caller-model.js';

// The readers the manifest tests derive the mesh's expected authorization from: they must find
// what the code and the protos say, and refuse what they cannot read rather than skip it.

const method = (service: typeof SessionService | typeof AuthVerifyService, name: string) =>
  service.methods.find((m) => m.name === name)!;

describe('peerDeclarationsIn', () => {
  test('reads the service and the method names of every definePeer call', () => {
    const found = peerDeclarationsIn(
      'main.ts',
      `import { SessionService } from '@wxmesh/contracts';
       import { createPeerClient, definePeer } from '@wxmesh/rpc';
       const session = createPeerClient(definePeer(SessionService, ['createSession', "getSession"]), {});
       const again = definePeer(SessionService, ['touchSession'] as const);`,
    );
    assert.deepEqual(found, [
      { service: 'SessionService', methods: ['createSession', 'getSession'], line: 3 },
      { service: 'SessionService', methods: ['touchSession'], line: 4 },
    ]);
  });

  test('follows import aliases of the descriptor and of definePeer', () => {
    const found = peerDeclarationsIn(
      'main.ts',
      `import { SessionService as Sessions } from '@wxmesh/contracts';
       import { definePeer as peer } from '@wxmesh/rpc';
       peer(Sessions, ['deliver']);`,
    );
    assert.deepEqual(found, [{ service: 'SessionService', methods: ['deliver'], line: 3 }]);
  });

  const unreadable: Array<[string, string]> = [
    ['methods from a variable', `const m = ['getSession']; definePeer(SessionService, m);`],
    ['a spread', `definePeer(SessionService, [...m]);`],
    ['a computed method name', 'definePeer(SessionService, [`get${x}`]);'],
    ['a service that is not an identifier', `definePeer(contracts.SessionService, ['getSession']);`],
    ['one argument', `definePeer(SessionService);`],
  ];
  for (const [what, source] of unreadable) {
    test(`refuses ${what}, naming the file and line`, () => {
      assert.throws(
        () => peerDeclarationsIn('services/x/src/main.ts', `\n${source}`),
        /services\/x\/src\/main\.ts:2:/,
      );
    });
  }
});

describe('peerCallsIn', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wxmesh-peers-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  const descriptors = { SessionService, AuthVerifyService };

  test('attributes each call to the service whose directory holds it, by proto method name', () => {
    write('a/src/adapters/peers.ts', `definePeer(SessionService, ['createSession', 'getPresenceBatch']);`);
    write('a/src/main.spec.ts', `definePeer(SessionService, ['deliver']);`);
    write('b/src/main.ts', `definePeer(AuthVerifyService, ['verifySession']);`);
    write('c/README.md', 'no sources');
    const calls = peerCallsIn(dir, descriptors).map(
      (c) => `${c.caller} -> ${c.callee.typeName}/${c.method.name} @ ${c.at}`,
    );
    assert.deepEqual(calls.sort(), [
      'a -> wxmesh.session.v1.SessionService/CreateSession @ a/src/adapters/peers.ts:1',
      'a -> wxmesh.session.v1.SessionService/GetPresenceBatch @ a/src/adapters/peers.ts:1',
      'b -> wxmesh.auth.v1.AuthVerifyService/VerifySession @ b/src/main.ts:1',
    ]);
  });

  test('refuses a method the descriptor does not have, and a descriptor it does not know', () => {
    write('d/src/main.ts', `definePeer(SessionService, ['touchSessions']);`);
    assert.throws(
      () => peerCallsIn(dir, descriptors),
      /d\/src\/main\.ts:1: .*SessionService has no method touchSessions/,
    );
    rmSync(join(dir, 'd'), { recursive: true });
    write('e/src/main.ts', `definePeer(PaymentService, ['getPayment']);`);
    assert.throws(() => peerCallsIn(dir, descriptors), /PaymentService, \.\.\.\) names no wxmesh service/);
    rmSync(join(dir, 'e'), { recursive: true });
  });
});

describe('the proto access options', () => {
  test('INTERNAL admits the listed peers only; PUBLIC admits anyone unless only named grants count', () => {
    assert.equal(protoAllowsPeer(method(SessionService, 'TouchSession'), 'auth-verify'), true);
    assert.equal(protoAllowsPeer(method(SessionService, 'TouchSession'), 'message-router'), false);
    assert.equal(protoAllowsPeer(method(AuthVerifyService, 'VerifySession'), 'payment-callback'), true);
    assert.equal(
      protoAllowsPeer(method(AuthVerifyService, 'VerifySession'), 'payment-callback', true),
      false,
    );
  });

  test('OPERATOR admits the operator alone', () => {
    const funnel = BehaviourViewService.methods.find((m) => m.name === 'GetFunnel')!;
    assert.equal(protoAllowsPeer(funnel, 'operator'), true);
    assert.equal(protoAllowsPeer(funnel, 'business-backend'), false);
    assert.equal(isEdgeRpc(funnel), false);
  });

  test('the identities outside the mesh are the named peers that are not services, and the operator', () => {
    const contracts = [
      AuthVerifyService,
      SessionService,
      MessageRouterService,
      PaymentService,
      BehaviourViewService,
    ];
    const services = ['auth-verify', 'session', 'message-router', 'payment-callback', 'behaviour-projector'];
    assert.deepEqual(principalsOutsideMesh(contracts, services), ['business-backend', 'operator']);
  });
});
