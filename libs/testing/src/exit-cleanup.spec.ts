import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait-for.js';

const module = fileURLToPath(new URL('./exit-cleanup.ts', import.meta.url));

/** Whether a process with this pid still exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A process that starts a long-lived grandchild, registers its kill with onExitCleanup (plus, when
 * asked, a SIGTERM handler of its own), prints the grandchild's pid, and waits.
 */
function parent(ownHandler: boolean) {
  const script = `
    import { spawn } from 'node:child_process';
    const { onExitCleanup } = await import(${JSON.stringify(module)});
    const grandchild = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    onExitCleanup(() => grandchild.kill('SIGKILL'));
    ${ownHandler ? "process.on('SIGTERM', () => console.log('handled'));" : ''}
    console.log(grandchild.pid);
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  return { child, exited, out: () => out };
}

test('a SIGTERM to the process still runs its cleanups: the grandchild does not outlive it', async () => {
  const run = parent(false);
  try {
    await waitFor(() => /^\d+$/m.test(run.out()), { message: 'the grandchild started' });
    const grandchild = Number(run.out().trim());
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
    await waitFor(() => /^\d+$/m.test(run.out()), { message: 'the grandchild started' });
    const grandchild = Number(run.out().trim());
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
