import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ensureProtoDeps, runBuf } from '../scripts/generate.js';

describe('proto/', () => {
  before(async () => {
    await ensureProtoDeps();
  });

  it('passes buf lint (STANDARD)', async () => {
    // runBuf rejects with buf's findings when it exits non-zero.
    const { stdout } = await runBuf(['lint']);
    assert.equal(stdout, '');
  });

  it('is buf-formatted', async () => {
    const { stdout } = await runBuf(['format', '--diff', '--exit-code', 'proto']);
    assert.equal(stdout, '');
  });
});
