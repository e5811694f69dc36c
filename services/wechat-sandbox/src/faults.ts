import { setTimeout as sleep } from 'node:timers/promises';
import type { Before, Endpoint, SandboxResponse } from './http.js';
import { jsonBody } from './http.js';

/** A fault injected on one path, for the next `times` calls (default: until cleared). */
export interface Fault {
  readonly path: string;
  /** Answer HTTP 200 with this WeChat errcode (and errmsg). */
  readonly errcode?: number;
  readonly errmsg?: string;
  /** Answer with this HTTP status (5xx) and an empty body. */
  readonly status?: number;
  /**
   * Wait this long before answering (normally or with the fault). A client that disconnects during
   * the wait ends it, and its request is never processed (a js_code stays unspent).
   */
  readonly delayMs?: number;
  /** Never answer. */
  readonly hang?: boolean;
  /** How many calls it applies to; unset = every call until cleared. */
  readonly times?: number;
}

/**
 * Per-path fault injection for tests and for a developer poking at the mesh: errcodes, HTTP
 * errors, latency and hangs, each for a number of calls or until cleared. Also counts calls per
 * path, so a test can assert how often the mesh really called WeChat.
 */
export function createFaults() {
  const faults = new Map<string, { fault: Fault; left: number }>();
  const calls = new Map<string, number>();

  const before: Before = async (req) => {
    calls.set(req.path, (calls.get(req.path) ?? 0) + 1);
    const entry = faults.get(req.path);
    if (entry === undefined) return undefined;
    const { fault } = entry;
    if (--entry.left <= 0) faults.delete(req.path);
    if (fault.delayMs) {
      const waited = await sleep(fault.delayMs, true, { signal: req.gone }).catch(() => false);
      if (!waited) return 'hang'; // the client hung up: nothing to answer, nothing processed
    }
    if (fault.hang) return 'hang';
    if (fault.status !== undefined) return { status: fault.status, body: '' } satisfies SandboxResponse;
    if (fault.errcode !== undefined)
      return {
        body: { errcode: fault.errcode, errmsg: fault.errmsg ?? `injected errcode ${fault.errcode}` },
      };
    return undefined;
  };

  const endpoints: Endpoint[] = [
    {
      method: 'POST',
      path: '/sandbox/faults',
      handler: (req) => {
        const body = jsonBody(req);
        if (typeof body?.path !== 'string' || !body.path.startsWith('/'))
          return {
            status: 400,
            body: { error: 'path: an API path such as /sns/jscode2session is required' },
          };
        const fault = body as unknown as Fault;
        faults.set(fault.path, { fault, left: fault.times ?? Number.POSITIVE_INFINITY });
        return { status: 204 };
      },
    },
    {
      method: 'DELETE',
      path: '/sandbox/faults',
      handler: () => {
        faults.clear();
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: '/sandbox/calls',
      handler: () => ({ body: Object.fromEntries(calls) }),
    },
    {
      method: 'DELETE',
      path: '/sandbox/calls',
      handler: () => {
        calls.clear();
        return { status: 204 };
      },
    },
  ];
  return { before, endpoints };
}
