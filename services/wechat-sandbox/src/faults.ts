import { setTimeout as sleep } from 'node:timers/promises';
import type { Before, Endpoint, SandboxRequest, SandboxResponse } from './http.js';
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

/** The faults injected per path (with the calls each has left) and the calls counted per path. */
interface FaultState {
  readonly faults: Map<string, { fault: Fault; left: number }>;
  readonly calls: Map<string, number>;
}

/**
 * Plays a fault on a request: its delay (ended by the client hanging up: then nothing is answered
 * or processed), then a hang, an HTTP status, an errcode, or undefined to let the endpoint run.
 */
async function play(fault: Fault, req: SandboxRequest): Promise<SandboxResponse | 'hang' | undefined> {
  if (fault.delayMs) {
    const waited = await sleep(fault.delayMs, true, { signal: req.gone }).catch(() => false);
    if (!waited) return 'hang'; // the client hung up: nothing to answer, nothing processed
  }
  if (fault.hang) return 'hang';
  if (fault.status !== undefined) return { status: fault.status, body: '' };
  if (fault.errcode !== undefined)
    return {
      body: { errcode: fault.errcode, errmsg: fault.errmsg ?? `injected errcode ${fault.errcode}` },
    };
  return undefined;
}

/** Counts the call, then plays the path's fault, if any, using up one of its calls. */
async function before(state: FaultState, req: SandboxRequest): Promise<SandboxResponse | 'hang' | undefined> {
  state.calls.set(req.path, (state.calls.get(req.path) ?? 0) + 1);
  const entry = state.faults.get(req.path);
  if (entry === undefined) return undefined;
  if (--entry.left <= 0) state.faults.delete(req.path);
  return play(entry.fault, req);
}

/** `POST /sandbox/faults`: injects a fault on a path (replacing the one it had). */
function injectFault(state: FaultState, req: SandboxRequest): SandboxResponse {
  const body = jsonBody(req);
  if (typeof body?.path !== 'string' || !body.path.startsWith('/'))
    return {
      status: 400,
      body: { error: 'path: an API path such as /sns/jscode2session is required' },
    };
  const fault = body as unknown as Fault;
  state.faults.set(fault.path, { fault, left: fault.times ?? Number.POSITIVE_INFINITY });
  return { status: 204 };
}

/**
 * Per-path fault injection for tests and for a developer poking at the mesh: errcodes, HTTP
 * errors, latency and hangs, each for a number of calls or until cleared. Also counts calls per
 * path, so a test can assert how often the mesh really called WeChat. `before` goes in front of
 * the WeChat paths; `endpoints` are its control API.
 */
export function createFaults(): { before: Before; endpoints: Endpoint[] } {
  const state: FaultState = { faults: new Map(), calls: new Map() };
  const cleared = (map: Map<string, unknown>) => (): SandboxResponse => {
    map.clear();
    return { status: 204 };
  };
  return {
    before: (req) => before(state, req),
    endpoints: [
      { method: 'POST', path: '/sandbox/faults', handler: (req) => injectFault(state, req) },
      { method: 'DELETE', path: '/sandbox/faults', handler: cleared(state.faults) },
      { method: 'GET', path: '/sandbox/calls', handler: () => ({ body: Object.fromEntries(state.calls) }) },
      { method: 'DELETE', path: '/sandbox/calls', handler: cleared(state.calls) },
    ],
  };
}
