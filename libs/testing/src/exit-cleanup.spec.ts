import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait-for.js';

const fixture = fileURLToPath(new URL('./fixtures/exit-cleanup-parent.ts', import.meta.url));

/** Whether a process with this pid still exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The fixture process (see fixtures/exit-cleanup-parent.ts), its output, and its grandchild's pid. */
function parent(ownHandler: boolean) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fixture, ...(ownHandler ? ['--own-handler'] : [])],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  const grandchild = async () => {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`the fixture exited ${child.exitCode}: ${out}`);
        return /^grandchild \d+$/m.test(out);
      },
      { message: 'the grandchild started' },
    );
    return Number(/^grandchild (\d+)$/m.exec(out)![1]);
  };
  return { child, exited, out: () => out, grandchild };
}

test('a SIGTERM to the process still runs its cleanups: the grandchild does not outlive it', async () => {
  const run = parent(false);
  try {
    const grandchild = await run.grandchild();
    assert.ok(alive(grandchild));
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 143, 'exits 128 + SIGTERM');
    await waitFor(() => !alive(grandchild), { message: 'the grandchild was killed by the cleanup' });
  } finally {
    run.child.kill('SIGKILL');
  }
});

test("a program's own SIGTERM handler keeps control: the process does not exit on it", async () => {
  const run = parent(true);
  try {
    const grandchild = await run.grandchild();
    run.child.kill('SIGTERM');
    await waitFor(() => run.out().includes('handled'), { message: 'its own handler ran' });
    assert.equal(run.child.exitCode, null, 'still running');
    run.child.kill('SIGHUP');
    assert.equal(await run.exited, 129);
    await waitFor(() => !alive(grandchild), { message: 'cleaned up on the SIGHUP exit' });
  } finally {
    run.child.kill('SIGKILL');
  }
});
