import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from './wait-for.js';

test('waitFor resolves with the first truthy value of the condition', async () => {
  let polls = 0;
  const value = await waitFor(() => (++polls >= 3 ? { polls } : undefined), { intervalMs: 1 });
  assert.deepEqual(value, { polls: 3 });
});

test('waitFor keeps polling through errors and names the condition and last error at the deadline', async () => {
  let polls = 0;
  const started = Date.now();
  await assert.rejects(
    waitFor(
      async () => {
        polls++;
        throw new Error('not yet');
      },
      { timeoutMs: 100, intervalMs: 10, message: 'the thing' },
    ),
    /waitFor: the thing not met within 100 ms \(last error: not yet\)/,
  );
  assert.ok(Date.now() - started >= 100, 'waited the whole deadline');
  assert.ok(polls >= 3, `polled repeatedly (${polls})`);
});

test('waitFor checks the condition once even with no time left', async () => {
  assert.equal(await waitFor(() => 'now', { timeoutMs: 0 }), 'now');
});

test('waitFor stops polling as soon as its signal aborts', async () => {
  const ac = new AbortController();
  let polls = 0;
  const started = Date.now();
  const condition = () => {
    if (++polls === 3) ac.abort(new Error('gave up'));
    return false;
  };
  await assert.rejects(
    waitFor(condition, { timeoutMs: 10_000, intervalMs: 5, signal: ac.signal }),
    /gave up/,
  );
  assert.equal(polls, 3);
  assert.ok(Date.now() - started < 5_000, 'did not run to the deadline');
});

test('waitFor abandons a check that hangs past the deadline', async () => {
  const hung = new Promise<boolean>(() => undefined);
  await assert.rejects(
    waitFor(() => hung, { timeoutMs: 50, message: 'hung check' }),
    /hung check not met within 50 ms \(last error: the last check was still pending at the deadline\)/,
  );
});
