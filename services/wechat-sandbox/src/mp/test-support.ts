// Test support: the mini-program side of the sandbox served in-process over real HTTP, composed
// as main.ts composes it (control API beside the fault routes, WeChat paths behind fault injection
// and call counting).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach } from 'node:test';
import { createFaults } from '../faults.js';
import { endpointsRoute } from '../http.js';
import { createMiniProgramApi } from './index.js';
import type { MpApp } from './domain/fixtures.js';

/** A WeChat-style JSON answer. */
export type Json = Record<string, unknown>;

/** An HTTP answer: status and parsed JSON body (undefined when empty). */
export interface Answer {
  readonly status: number;
  readonly body: Json;
}

/** A sandbox started for one test file. */
export interface TestSandbox {
  readonly url: string;
  get(path: string, query?: Record<string, string>): Promise<Answer>;
  post(path: string, body?: unknown, query?: Record<string, string>): Promise<Answer>;
  del(path: string): Promise<Answer>;
  close(): Promise<void>;
}

/** An HTTP client for a sandbox at `url` (in-process or a separate process). */
export function sandboxClient(url: string): Omit<TestSandbox, 'close' | 'url'> {
  const call = async (method: string, path: string, query?: Record<string, string>, body?: unknown) => {
    const target = new URL(path, url);
    for (const [k, v] of Object.entries(query ?? {})) target.searchParams.set(k, v);
    const res = await fetch(target, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Json };
  };
  return {
    get: (path, query) => call('GET', path, query),
    post: (path, body, query) => call('POST', path, query, body),
    del: (path) => call('DELETE', path),
  };
}

/** Starts the sandbox's mini-program side on a free local port. */
export async function startTestSandbox(apps: readonly MpApp[] = []): Promise<TestSandbox> {
  const faults = createFaults();
  const mp = createMiniProgramApi({ now: Date.now, apps });
  const routes = [
    endpointsRoute([...faults.endpoints, ...mp.control]),
    endpointsRoute(mp.endpoints, faults.before),
  ];
  const server = createServer((req, res) => {
    void (async () => {
      for (const route of routes) if (await route(req, res)) return;
      res.writeHead(404).end();
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    ...sandboxClient(url),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The sandbox of one spec file, with `apps` registered: started before its tests, reset before
 * each one (fixtures, clock, counters and quotas back to the start), closed after them.
 */
export function useTestSandbox(apps: readonly MpApp[]): Omit<TestSandbox, 'close'> {
  let sandbox: TestSandbox | undefined;
  const started = () => {
    if (sandbox === undefined) throw new Error('the test sandbox is used outside a test');
    return sandbox;
  };
  before(async () => {
    sandbox = await startTestSandbox(apps);
  });
  after(() => sandbox?.close());
  beforeEach(async () => {
    assert.equal((await started().post('/sandbox/mp/reset')).status, 204);
  });
  return {
    get url() {
      return started().url;
    },
    get: (path, query) => started().get(path, query),
    post: (path, body, query) => started().post(path, body, query),
    del: (path) => started().del(path),
  };
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
