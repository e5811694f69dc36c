import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { context, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { BreakerOpenError, BreakerTimeoutError, createBreaker, type BreakerOptions } from './breaker.js';
import { waitFor } from '@wxmesh/testing';

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer(
  'test',
);

/** Runs `fn` inside a fresh active span and returns the finished span with its events. */
async function inSpan(name: string, fn: () => Promise<unknown>): Promise<ReadableSpan> {
  await tracer.startActiveSpan(name, async (span: Span) => {
    try {
      await fn().catch(() => undefined);
    } finally {
      span.end();
    }
  });
  const done = exporter.getFinishedSpans().find((s) => s.name === name);
  assert.ok(done, `span ${name} exported`);
  return done;
}

const eventsOf = (span: ReadableSpan) => span.events.map((e) => e.name);

class PeerError extends Error {
  constructor(readonly code: 'UNAVAILABLE' | 'INVALID_ARGUMENT') {
    super(code);
  }
}

let seq = 0;

/** A breaker around a scripted dependency that counts its invocations. */
function setup(options: Partial<BreakerOptions> = {}) {
  const registry = new Registry();
  const name = `peer-${++seq}`;
  const dep = { calls: 0, outcome: 'ok' as 'ok' | 'fail' | 'invalid' };
  const breaker = createBreaker(
    name,
    async (_signal: AbortSignal, x: number) => {
      dep.calls++;
      if (dep.outcome === 'fail') throw new PeerError('UNAVAILABLE');
      if (dep.outcome === 'invalid') throw new PeerError('INVALID_ARGUMENT');
      return x * 2;
    },
    {
      timeout: 1000,
      volumeThreshold: 4,
      errorThresholdPercentage: 50,
      resetTimeout: 60_000,
      registry,
      ...options,
    },
  );
  const gauge = async () => {
    const metric = await registry.getSingleMetric('wxmesh_breaker_state')?.get();
    return metric?.values.find((v) => v.labels.breaker === name)?.value;
  };
  const count = async (result: string) => {
    const metric = await registry.getSingleMetric('wxmesh_breaker_calls_total')?.get();
    return metric?.values.find((v) => v.labels.breaker === name && v.labels.result === result)?.value ?? 0;
  };
  return { breaker, dep, gauge, count, name };
}

async function failTimes(breaker: { fire(x: number): Promise<number> }, n: number) {
  for (let i = 0; i < n; i++) await assert.rejects(breaker.fire(i), PeerError);
}

describe('createBreaker', () => {
  it('passes results through and stays closed while healthy', async () => {
    const { breaker, gauge, count } = setup();
    assert.equal(await breaker.fire(21), 42);
    assert.equal(breaker.state(), 'closed');
    assert.equal(await gauge(), 0);
    assert.equal(await count('success'), 1);
  });

  it('opens once failures pass the threshold with enough volume in the window', async () => {
    const { breaker, dep, gauge, count } = setup();
    dep.outcome = 'fail';
    await failTimes(breaker, 3);
    assert.equal(breaker.state(), 'closed', 'below volumeThreshold');
    const span = await inSpan('opening-call', () => breaker.fire(1));
    assert.equal(breaker.state(), 'open');
    assert.equal(await gauge(), 2);
    assert.equal(await count('failure'), 4);
    assert.ok(eventsOf(span).includes('breaker.open'), eventsOf(span).join());
  });

  it('rejects fast while open, without invoking the function', async () => {
    const { breaker, dep, count } = setup();
    dep.outcome = 'fail';
    await failTimes(breaker, 4);
    assert.equal(breaker.state(), 'open');
    const callsWhenOpened = dep.calls;
    dep.outcome = 'ok';

    let rejection: unknown;
    const span = await inSpan('rejected-call', () =>
      breaker.fire(1).catch((err: unknown) => {
        rejection = err;
      }),
    );
    assert.ok(rejection instanceof BreakerOpenError);
    assert.equal(rejection.breaker, breaker.name);
    await assert.rejects(breaker.fire(2), BreakerOpenError);
    assert.equal(dep.calls, callsWhenOpened);
    assert.equal(await count('reject'), 2);
    assert.deepEqual(eventsOf(span), ['breaker.reject']);
  });

  it('lets one probe through after resetTimeout and closes on success', async () => {
    const { breaker, dep, gauge } = setup({ resetTimeout: 50 });
    dep.outcome = 'fail';
    await failTimes(breaker, 4);
    await waitFor(() => breaker.state() === 'half-open', { timeoutMs: 2000 });
    assert.equal(await gauge(), 1);

    dep.outcome = 'ok';
    const span = await inSpan('probe-ok', () => breaker.fire(5));
    assert.equal(breaker.state(), 'closed');
    assert.equal(await gauge(), 0);
    assert.deepEqual(eventsOf(span), ['breaker.half_open', 'breaker.close']);
    assert.equal(await breaker.fire(4), 8);
  });

  it('reopens when the probe fails', async () => {
    const { breaker, dep, gauge } = setup({ resetTimeout: 50 });
    dep.outcome = 'fail';
    await failTimes(breaker, 4);
    await waitFor(() => breaker.state() === 'half-open', { timeoutMs: 2000 });
    const calls = dep.calls;

    const span = await inSpan('probe-fail', () => breaker.fire(5));
    assert.equal(dep.calls, calls + 1, 'the probe reached the dependency');
    assert.equal(breaker.state(), 'open');
    assert.equal(await gauge(), 2);
    assert.deepEqual(eventsOf(span), ['breaker.half_open', 'breaker.open']);
    await assert.rejects(breaker.fire(6), BreakerOpenError);
    await waitFor(() => breaker.state() === 'half-open', { timeoutMs: 2000, message: 'half-open again' });
  });

  it('aborts the signal of exactly the call that timed out', async () => {
    const registry = new Registry();
    const seen = new Map<string, AbortSignal>();
    const breaker = createBreaker(
      'slow-peer',
      (signal: AbortSignal, id: string, delayMs: number) => {
        seen.set(id, signal);
        return new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => resolve(id), delayMs);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(signal.reason);
          });
        });
      },
      { timeout: 50, registry },
    );

    const [slow, fast] = await Promise.allSettled([breaker.fire('slow', 10_000), breaker.fire('fast', 5)]);
    assert.equal(fast.status, 'fulfilled');
    assert.equal(slow.status, 'rejected');
    assert.ok(slow.reason instanceof BreakerTimeoutError);
    assert.equal(slow.reason.timeoutMs, 50);
    assert.equal(seen.get('slow')?.aborted, true);
    assert.ok(seen.get('slow')?.reason instanceof BreakerTimeoutError);
    assert.equal(seen.get('fast')?.aborted, false);
    const metric = await registry.getSingleMetric('wxmesh_breaker_calls_total')?.get();
    assert.equal(metric?.values.find((v) => v.labels.result === 'timeout')?.value, 1);
  });

  it('does not count errors that isFailure rejects, but still passes them to the caller', async () => {
    const { breaker, dep, count } = setup({
      volumeThreshold: 2,
      isFailure: (err) => !(err instanceof PeerError && err.code === 'INVALID_ARGUMENT'),
    });
    dep.outcome = 'invalid';
    for (let i = 0; i < 10; i++) {
      await assert.rejects(
        breaker.fire(i),
        (err: unknown) => err instanceof PeerError && err.code === 'INVALID_ARGUMENT',
      );
    }
    assert.equal(breaker.state(), 'closed');
    assert.equal(await count('ignored'), 10);

    // Ignored errors count as healthy responses: 10 failures are 50% of 20 calls, not above it.
    dep.outcome = 'fail';
    await failTimes(breaker, 10);
    assert.equal(breaker.state(), 'closed');
    await failTimes(breaker, 1);
    assert.equal(breaker.state(), 'open', 'real failures still open it');
  });

  it('aborts the call when the caller cancels, without counting it against the dependency', async () => {
    const { breaker, count } = (() => {
      const registry = new Registry();
      const b = createBreaker(
        'cancellable',
        (signal: AbortSignal) =>
          new Promise<never>((_resolve, reject) =>
            signal.addEventListener('abort', () => reject(signal.reason)),
          ),
        { volumeThreshold: 1, registry },
      );
      const c = async (result: string) =>
        (await registry.getSingleMetric('wxmesh_breaker_calls_total')?.get())?.values.find(
          (v) => v.labels.result === result,
        )?.value ?? 0;
      return { breaker: b, count: c };
    })();
    for (let i = 0; i < 3; i++) {
      const caller = new AbortController();
      const pending = breaker.fireWithSignal(caller.signal);
      caller.abort(new Error('client went away'));
      await assert.rejects(pending, /client went away/);
    }
    assert.equal(breaker.state(), 'closed');
    assert.equal(await count('cancelled'), 3);
    await assert.rejects(
      breaker.fireWithSignal(AbortSignal.abort(new Error('already gone'))),
      /already gone/,
    );
  });

  it('rejects with BreakerOpenError after shutdown and drops its gauge series', async () => {
    const { breaker, gauge } = setup();
    breaker.shutdown();
    await assert.rejects(breaker.fire(1), BreakerOpenError);
    assert.equal(await gauge(), undefined);
  });
});
