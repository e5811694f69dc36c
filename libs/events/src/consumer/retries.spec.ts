import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchAbandoned, withRetries, type BatchControl, type RetryPolicy } from './retries.js';

/** A clock that moves 1 s at each reading, so every pause ends at once. */
function policy(
  transient: (err: unknown) => boolean,
  retries: { err: unknown; transient: boolean }[],
): RetryPolicy {
  let now = 0;
  return {
    backoffMs: 100,
    isTransient: transient,
    now: () => (now += 1_000),
    onRetry: (err, isTransient) => retries.push({ err, transient: isTransient }),
  };
}

function control(live = () => true): BatchControl & { heartbeats: number } {
  const c = { heartbeats: 0, live, heartbeat: async () => void c.heartbeats++ };
  return c;
}

/** Fails with the given errors in turn, then resolves with `done`. */
function failing(errors: unknown[]): () => Promise<string> {
  return async () => {
    const next = errors.shift();
    if (next !== undefined) throw next;
    return 'done';
  };
}

describe('withRetries', () => {
  it('returns the value once the work succeeds, after counted failures below the limit', async () => {
    const retries: { err: unknown; transient: boolean }[] = [];
    const c = control();
    const outcome = await withRetries(
      failing(['a', 'b']),
      c,
      3,
      policy(() => false, retries),
    );
    assert.deepEqual(outcome, { ok: true, value: 'done' });
    assert.deepEqual(retries, [
      { err: 'a', transient: false },
      { err: 'b', transient: false },
    ]);
    assert.equal(c.heartbeats, 2, 'a heartbeat after each pause');
  });

  it('gives up with the last error after `limit` counted failures', async () => {
    const outcome = await withRetries(
      failing(['a', 'b', 'c']),
      control(),
      2,
      policy(() => false, []),
    );
    assert.deepEqual(outcome, { ok: false, error: 'b', attempts: 2 });
  });

  it('retries transient failures without counting them', async () => {
    const retries: { err: unknown; transient: boolean }[] = [];
    const errors = ['down', 'down', 'down', 'bad', 'down'];
    const outcome = await withRetries(
      failing(errors),
      control(),
      2,
      policy((e) => e === 'down', retries),
    );
    assert.deepEqual(outcome, { ok: true, value: 'done' });
    assert.equal(retries.filter((r) => r.transient).length, 4);
  });

  it('abandons the batch when it stops being live during a pause', async () => {
    const frozenClock = { ...policy(() => false, []), now: () => 0 };
    await assert.rejects(
      withRetries(
        failing(['a']),
        control(() => false),
        5,
        frozenClock,
      ),
      BatchAbandoned,
    );
  });
});
