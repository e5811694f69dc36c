// scripts/with-infra.ts, run as `npm test` and `npm run infra` run it: a real process, real signals.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { onExitCleanup } from './exit-cleanup.js';
import { canListen } from './test-support.js';
import { waitFor } from './wait-for.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function withInfra(command: string[], env: Record<string, string | undefined>) {
  const { REDIS_URL: _r, KAFKA_BROKERS: _k, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/with-infra.ts', '--', ...command], {
    cwd: root,
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Recorded before anything is awaited: a failing test must not leave it (and its servers) running.
  const forget = onExitCleanup(() => child.kill('SIGKILL'));
  child.once('exit', forget);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

const GIVEN = { REDIS_URL: 'redis://127.0.0.1:1', KAFKA_BROKERS: '127.0.0.1:2' };

test('with-infra passes REDIS_URL / KAFKA_BROKERS from its environment to the command and exits with its code', async () => {
  const run = withInfra(
    [
      process.execPath,
      '-e',
      'console.log(`env ${process.env.REDIS_URL} ${process.env.KAFKA_BROKERS}`); process.exit(3)',
    ],
    GIVEN,
  );
  assert.equal(await run.exited, 3, run.stderr());
  assert.match(
    run.stdout(),
    /with-infra: Redis redis:\/\/127\.0\.0\.1:1 \(from REDIS_URL\), Kafka 127\.0\.0\.1:2 \(from KAFKA_BROKERS\)/,
  );
  assert.match(run.stdout(), /^env redis:\/\/127\.0\.0\.1:1 127\.0\.0\.1:2$/m);
});

test('with-infra forwards SIGTERM to the command and exits with the code it chose', async () => {
  const script =
    "process.on('SIGTERM', () => { console.log('child got SIGTERM'); process.exit(7); }); console.log('ready'); setInterval(() => {}, 1000);";
  const run = withInfra([process.execPath, '-e', script], GIVEN);
  await waitFor(() => run.stdout().includes('ready'), { timeoutMs: 15_000, message: 'the command started' });
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 7, run.stderr());
  assert.match(run.stdout(), /child got SIGTERM/);
});

test('with-infra starts Redis when REDIS_URL is unset, hands it to the command, and stops it afterwards', async () => {
  const ping =
    "const s = require('net').connect(Number(new URL(process.env.REDIS_URL).port), '127.0.0.1', () => s.write('PING\\r\\n'));" +
    "s.on('data', (d) => { console.log('reply ' + d.toString().trim()); process.exit(0); });";
  const run = withInfra([process.execPath, '-e', ping], { KAFKA_BROKERS: GIVEN.KAFKA_BROKERS });
  assert.equal(await run.exited, 0, run.stderr());
  assert.match(run.stdout(), /^reply \+PONG$/m);
  const port = Number(/Redis redis:\/\/127\.0\.0\.1:(\d+) \(started\)/.exec(run.stdout())?.[1]);
  assert.ok(port > 0, run.stdout());
  assert.equal(await canListen(port), true, 'the Redis it started is stopped');
});

test('with-infra without a command prints usage and fails', async () => {
  const run = withInfra([], GIVEN);
  assert.equal(await run.exited, 2);
  assert.match(run.stderr(), /usage: node --import tsx scripts\/with-infra\.ts -- <command>/);
});

test('with-infra interrupted while the servers start stops the ones that started and exits 130', async () => {
  const run = withInfra([process.execPath, '-e', 'console.log("the command ran")'], {});
  const ready = await waitFor(
    () => /with-infra: Redis: ready at redis:\/\/127\.0\.0\.1:(\d+)/.exec(run.stderr()),
    {
      timeoutMs: 60_000,
      message: 'with-infra reported Redis ready',
    },
  );
  // Kafka is still starting (it takes seconds): a Ctrl-C now.
  run.child.kill('SIGINT');
  assert.equal(await run.exited, 130, run.stderr());
  assert.doesNotMatch(run.stdout(), /the command ran/);
  assert.match(run.stderr(), /with-infra: Kafka [\d.]+: starting\.\.\./);
  assert.equal(await canListen(Number(ready[1])), true, 'the Redis it started is stopped');
});
