import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import { createProjectGraphAsync } from '@nx/devkit';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('../..', import.meta.url));
let eslint: ESLint;

before(async () => {
  // The boundary rule reads Nx's project graph; build it the way `nx run-many` does.
  await createProjectGraphAsync({ exitOnError: false });
  eslint = new ESLint({ cwd: root });
});

async function boundaryErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${file}` });
  return result!.messages.filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => m.message);
}

test('a service importing another service fails lint', async () => {
  const errors = await boundaryErrors(
    'services/session/src/probe.ts',
    "import { createAuthVerifyService } from '@wxmesh/auth-verify';\nexport const x = createAuthVerifyService;\n",
  );
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /type:service.*can only depend on libs tagged with/);
});

test('a relative import into another service fails lint too', async () => {
  const errors = await boundaryErrors(
    'services/session/src/probe.ts',
    "import { createAuthVerifyService } from '../../auth-verify/src/service.js';\nexport const x = createAuthVerifyService;\n",
  );
  assert.equal(errors.length, 1);
});

test('a lib importing a service fails lint', async () => {
  const errors = await boundaryErrors(
    'libs/rpc/src/probe.ts',
    "import { createSessionService } from '@wxmesh/session';\nexport const x = createSessionService;\n",
  );
  assert.equal(errors.length, 1);
});

test('a service importing libs passes', async () => {
  const errors = await boundaryErrors(
    'services/session/src/probe.ts',
    "import { RpcServer } from '@wxmesh/rpc';\nexport const x = RpcServer;\n",
  );
  assert.deepEqual(errors, []);
});
