import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, retry, type RetryOptions } from './retry.js';

class Transient extends Error {}
class Permanent extends Error {}

/** A dependency that fails `failures` times with `error`, then returns 'ok'. */
function flaky(failures: number, error: () => Error = () => new Transient('try again')) {
  const attempts: number[] = [];
  const fn = async (attempt: number) => {
    attempts.push(attempt);
    if (attempts.length <= failures) throw error();
    return 'ok';
  };
  return { fn, attempts };
}

function recordingSleep() {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => void delays.push(ms) };
}

const base = (over: Partial<RetryOptions> = {}): RetryOptions => ({
  retries: 5,
  baseMs: 100,
  maxMs: 1000,
  idempotent: true,
  isRetryable: (err) => err instanceof Transient,
  ...over,
});

describe('retry', () => {
  it('retries transient failures with full-jitter exponential backoff', async () => {
    const { fn, attempts } = flaky(5);
    const { delays, sleep } = recordingSleep();
    const randoms = [0.5, 0.5, 0.25, 0.999, 0.999];
    const result = await retry(fn, base({ sleep, random: () => randoms.shift() ?? 0 }));
    assert.equal(result, 'ok');
    assert.deepEqual(attempts, [1, 2, 3, 4, 5, 6]);
    // caps: 100, 200, 400, 800, then min(1000, 1600) = 1000
    assert.deepEqual(delays, [50, 100, 100, 799, 999]);
  });

  it('keeps every delay within [0, min(maxMs, baseMs * 2^k))', () => {
    for (let k = 0; k < 12; k++) {
      const cap = Math.min(1000, 100 * 2 ** k);
      assert.equal(
        backoffDelay(k, 100, 1000, () => 0),
        0,
      );
      assert.equal(
        backoffDelay(k, 100, 1000, () => 1 - Number.EPSILON),
        cap - 1,
      );
    }
  });

  it('gives up after `retries` retries and rethrows the last error', async () => {
    let n = 0;
    const { delays, sleep } = recordingSleep();
    await assert.rejects(
      retry(
        async () => {
          throw new Transient(`failure ${++n}`);
        },
        base({ retries: 3, sleep, random: () => 0 }),
      ),
      { message: 'failure 4' },
    );
    assert.equal(delays.length, 3);
  });

  it('never retries a non-idempotent call, whatever the error', async () => {
    const { fn, attempts } = flaky(1);
    const { delays, sleep } = recordingSleep();
    await assert.rejects(retry(fn, base({ idempotent: false, sleep })), Transient);
    assert.deepEqual(attempts, [1]);
    assert.deepEqual(delays, []);
  });

  it('does not retry errors isRetryable rejects', async () => {
    const { fn, attempts } = flaky(1, () => new Permanent('bad request'));
    await assert.rejects(retry(fn, base({ sleep: recordingSleep().sleep })), Permanent);
    assert.deepEqual(attempts, [1]);
  });

  it('stops when aborted during the backoff, with the abort reason', async () => {
    const controller = new AbortController();
    const { fn, attempts } = flaky(10);
    const started = Date.now();
    const pending = retry(
      fn,
      base({ baseMs: 60_000, maxMs: 60_000, random: () => 0.9, signal: controller.signal }),
    );
    setImmediate(() => controller.abort(new Error('shutting down')));
    await assert.rejects(pending, /shutting down/);
    assert.deepEqual(attempts, [1]);
    assert.ok(Date.now() - started < 5000, 'did not wait out the backoff');
  });

  it('does not start or repeat attempts once aborted', async () => {
    const { fn, attempts } = flaky(10);
    await assert.rejects(retry(fn, base({ signal: AbortSignal.abort(new Error('gone')) })), /gone/);
    assert.deepEqual(attempts, []);

    const controller = new AbortController();
    const { sleep, delays } = recordingSleep();
    await assert.rejects(
      retry(
        async () => {
          controller.abort();
          throw new Transient('aborted mid-flight');
        },
        base({ signal: controller.signal, sleep }),
      ),
      /aborted mid-flight/,
    );
    assert.deepEqual(delays, []);
  });

  it('rejects nonsensical options', async () => {
    await assert.rejects(
      retry(async () => 1, base({ retries: -1 })),
      RangeError,
    );
    await assert.rejects(
      retry(async () => 1, base({ baseMs: 0 })),
      RangeError,
    );
    await assert.rejects(
      retry(async () => 1, base({ maxMs: 10 })),
      RangeError,
    );
  });
});
