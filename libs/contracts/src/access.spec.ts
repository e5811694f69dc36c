import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getOption, hasOption, type DescService } from '@bufbuild/protobuf';
import * as contracts from './index.js';
import { access, Audience } from './index.js';

// Every RPC declares who may call it (`option (wxmesh.common.v1.access)`): the kit refuses to
// serve one that does not, and these tests fail the build first, naming it.

const services = (Object.values(contracts) as unknown[]).filter(
  (value): value is DescService => (value as { kind?: unknown }).kind === 'service',
);
const PEER = /^(\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$/;

describe('RPC audiences', () => {
  it('finds every wxmesh service', () => {
    assert.ok(services.length >= 6, `found only ${services.length} services`);
  });

  it('every RPC declares at least one audience, and INTERNAL exactly when it names peers', () => {
    const problems: string[] = [];
    for (const service of services) {
      for (const method of service.methods) {
        const rpc = `${service.typeName}/${method.name}`;
        if (!hasOption(method, access)) {
          problems.push(`${rpc}: no (wxmesh.common.v1.access) option`);
          continue;
        }
        const declared = getOption(method, access);
        const audiences = declared.audiences.filter((a) => a !== Audience.UNSPECIFIED);
        if (audiences.length === 0) problems.push(`${rpc}: no audience`);
        if (new Set(audiences).size !== audiences.length) problems.push(`${rpc}: an audience twice`);
        const internal = audiences.includes(Audience.INTERNAL);
        if (internal !== declared.peers.length > 0)
          problems.push(`${rpc}: AUDIENCE_INTERNAL and peers go together`);
        for (const peer of declared.peers) {
          if (!PEER.test(peer)) problems.push(`${rpc}: peer "${peer}" is not a service account name`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  it('the mesh-internal token RPCs are never served at the edge', () => {
    for (const name of ['GetAccessToken', 'InvalidateAccessToken']) {
      const method = contracts.AuthVerifyService.methods.find((m) => m.name === name)!;
      const { audiences } = getOption(method, access);
      assert.deepEqual(audiences, [Audience.INTERNAL], name);
    }
  });

  it('no edge caller can create an order (and so choose its amount)', () => {
    const method = contracts.PaymentService.methods.find((m) => m.name === 'CreateJsapiOrder')!;
    const { audiences } = getOption(method, access);
    assert.ok(!audiences.includes(Audience.EDGE) && !audiences.includes(Audience.PUBLIC));
  });
});
