import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkDrift, diffTrees, ensureProtoDeps, GEN_DIR, generate, repoRoot } from '../scripts/generate.js';

describe('generated code', () => {
  before(async () => {
    await ensureProtoDeps();
  });

  it('is identical to a fresh generation from proto/ (no missing, extra or changed files)', async () => {
    assert.deepEqual(await checkDrift(), [], 'run `npm run generate` and commit libs/contracts/src/gen');
  });

  describe('drift detection', () => {
    let workspace: string;

    // A copy of the buf workspace whose protos the test may change without touching the repository.
    before(async () => {
      workspace = await mkdtemp(join(tmpdir(), 'wxmesh-drift-'));
      for (const file of ['buf.yaml', 'buf.gen.yaml']) await cp(join(repoRoot, file), join(workspace, file));
      await cp(join(repoRoot, 'proto'), join(workspace, 'proto'), { recursive: true });
      await mkdir(join(workspace, '.cache'));
      await symlink(join(repoRoot, '.cache/proto-deps'), join(workspace, '.cache/proto-deps'));
      await symlink(join(repoRoot, 'node_modules'), join(workspace, 'node_modules'));
    });
    after(async () => {
      await rm(workspace, { recursive: true, force: true });
    });

    it('reports a changed proto and a new proto that were not regenerated', async () => {
      const echo = join(workspace, 'proto/wxmesh/echo/v1/echo.proto');
      const source = await readFile(echo, 'utf8');
      await writeFile(
        echo,
        source.replace('string fail_code = 4;', 'string fail_code = 4;\n  string extra = 5;'),
      );
      await mkdir(join(workspace, 'proto/wxmesh/extra/v1'), { recursive: true });
      await writeFile(
        join(workspace, 'proto/wxmesh/extra/v1/extra.proto'),
        'syntax = "proto3";\npackage wxmesh.extra.v1;\nmessage Extra {}\n',
      );

      const out = join(workspace, 'out');
      await generate({ cwd: workspace, outputBase: out });

      assert.deepEqual(await diffTrees(join(repoRoot, GEN_DIR), join(out, GEN_DIR)), [
        'wxmesh/echo/v1/echo_pb.ts: content differs',
        'wxmesh/extra/v1/extra_pb.ts: unexpected',
      ]);
    });

    it('reports generated files whose proto was deleted', async () => {
      const out = join(workspace, 'out-missing');
      await rm(join(workspace, 'proto/wxmesh/payment'), { recursive: true });
      await generate({ cwd: workspace, outputBase: out });

      const diffs = await diffTrees(join(repoRoot, GEN_DIR), join(out, GEN_DIR));
      assert.ok(diffs.includes('wxmesh/payment/v1/payment_service_pb.ts: missing'), diffs.join('\n'));
    });
  });
});
