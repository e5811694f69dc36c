import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as contracts from './index.js';

const srcDir = fileURLToPath(new URL('.', import.meta.url));

describe('@wxmesh/contracts index', () => {
  it('re-exports every export of every generated module', async () => {
    const entries = await readdir(join(srcDir, 'gen'), { recursive: true, withFileTypes: true });
    const modules = entries.filter((e) => e.isFile() && e.name.endsWith('_pb.ts'));
    assert.ok(modules.length >= 8, `found only ${modules.length} generated modules`);

    const missing: string[] = [];
    for (const entry of modules) {
      const path = relative(srcDir, join(entry.parentPath, entry.name)).replace(/\.ts$/, '.js');
      const mod = (await import(`./${path}`)) as Record<string, unknown>;
      for (const [name, value] of Object.entries(mod)) {
        if ((contracts as Record<string, unknown>)[name] !== value) missing.push(`${path}: ${name}`);
      }
    }
    assert.deepEqual(missing, [], 'add the module to src/index.ts (and rename clashing proto names)');
  });

  it('exposes the service descriptors under their proto names', () => {
    const services = {
      AuthVerifyService: 'wxmesh.auth.v1.AuthVerifyService',
      BehaviourViewService: 'wxmesh.behaviour.v1.BehaviourViewService',
      EchoService: 'wxmesh.echo.v1.EchoService',
      MessageRouterService: 'wxmesh.router.v1.MessageRouterService',
      PaymentService: 'wxmesh.payment.v1.PaymentService',
      SessionService: 'wxmesh.session.v1.SessionService',
    } as const;
    for (const [name, typeName] of Object.entries(services)) {
      const desc = (contracts as Record<string, unknown>)[name] as { kind?: string; typeName?: string };
      assert.equal(desc.kind, 'service', name);
      assert.equal(desc.typeName, typeName);
    }
  });
});
