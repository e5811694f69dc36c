import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpBodyError, readRequestBody, type HttpRoute } from '@wxmesh/rpc';

/** A parsed request as the sandbox's handlers see it. */
export interface SandboxRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  /** The raw body bytes (WeChat Pay signatures are over these exact bytes). */
  readonly body: Buffer;
  /** Values of the endpoint path's `{name}` segments (URI-decoded). */
  readonly params: Readonly<Record<string, string>>;
  /**
   * Fires when the client disconnects before its answer was written. A slow step (an injected
   * delay) ends there, and nothing the request would change is changed: see {@link endpointsRoute}.
   */
  readonly gone: AbortSignal;
}

/** What a handler answers: a status, headers and a body (objects are sent as JSON). */
export interface SandboxResponse {
  readonly status?: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

export type SandboxHandler = (req: SandboxRequest) => SandboxResponse | Promise<SandboxResponse>;

/** One endpoint: method + exact path, or a path with `{name}` segments (each matches one segment). */
export interface Endpoint {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly handler: SandboxHandler;
}

/** Bodies larger than this are refused (413) before they are buffered further. */
const MAX_BODY_BYTES = 1 << 20;

/** A caller of the emulated APIs is a mesh service: a body still arriving after this is refused (408). */
const BODY_TIMEOUT_MS = 10_000;

/** The raw body, or the answer refusing it (too large, compressed, too slow), as WeChat words one. */
async function readBody(req: IncomingMessage): Promise<Buffer | SandboxResponse> {
  try {
    return await readRequestBody(req, { maxBytes: MAX_BODY_BYTES, timeoutMs: BODY_TIMEOUT_MS });
  } catch (err) {
    if (!(err instanceof HttpBodyError)) throw err;
    return { status: err.status, body: { errcode: 44002, errmsg: err.message } };
  }
}

/** Writes a handler's answer. */
export function send(res: ServerResponse, answer: SandboxResponse): void {
  const { status = 200, headers = {}, body } = answer;
  if (body === undefined) {
    res.writeHead(status, headers).end();
  } else if (Buffer.isBuffer(body) || typeof body === 'string') {
    res.writeHead(status, headers).end(body);
  } else {
    res
      .writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
      .end(JSON.stringify(body));
  }
}

/**
 * Middleware run before every endpoint (fault injection): return an answer to short-circuit, or
 * undefined to let the endpoint run.
 */
export type Before = (req: SandboxRequest) => Promise<SandboxResponse | 'hang' | undefined>;

/**
 * Fires when the client closes the connection before the response was written. A real server
 * behind a slow path never completes a request whose client hung up (its handler is cancelled
 * with the connection), so neither does the sandbox: a js_code of a call its caller gave up on
 * during an injected delay stays unspent, as it would at WeChat.
 */
function clientGone(res: ServerResponse): AbortSignal {
  const gone = new AbortController();
  if (res.destroyed) gone.abort();
  else res.once('close', () => res.writableFinished || gone.abort());
  return gone.signal;
}

/** The endpoint a request goes to, with the values of its path's `{name}` segments. */
interface Match {
  readonly handler: SandboxHandler;
  readonly params: Readonly<Record<string, string>>;
}

/** An endpoint path with `{name}` segments as a regular expression capturing each segment. */
function pathPattern(endpoint: Endpoint) {
  const names: string[] = [];
  const source = endpoint.path
    .replace(/[.*+?^$()|[\]\\]/g, '\\$&')
    .replace(/\{(\w+)\}/g, (_, name: string) => {
      names.push(name);
      return '([^/]+)';
    });
  return { method: endpoint.method, regex: new RegExp(`^${source}$`), names, handler: endpoint.handler };
}

/** The endpoint table's lookup: exact paths first, then the `{name}` patterns in order. */
function compileEndpoints(endpoints: readonly Endpoint[]) {
  const table = new Map(
    endpoints.filter((e) => !e.path.includes('{')).map((e) => [`${e.method} ${e.path}`, e.handler]),
  );
  const patterns = endpoints.filter((e) => e.path.includes('{')).map(pathPattern);
  return (method: string | undefined, path: string): Match | undefined => {
    const exact = table.get(`${method} ${path}`);
    if (exact !== undefined) return { handler: exact, params: {} };
    for (const p of patterns) {
      const m = p.method === method ? p.regex.exec(path) : null;
      if (m)
        return {
          handler: p.handler,
          params: Object.fromEntries(p.names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)])),
        };
    }
    return undefined;
  };
}

/**
 * Mounts endpoints as one kit HttpRoute (the sandbox serves them on its `http` port). A request
 * whose client hung up during `before` (an injected delay) is dropped there, unprocessed.
 */
export function endpointsRoute(endpoints: readonly Endpoint[], before?: Before): HttpRoute {
  const match = compileEndpoints(endpoints);
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const found = match(req.method, url.pathname);
    if (found === undefined) return false;
    const body = await readBody(req);
    if (!Buffer.isBuffer(body)) {
      send(res, body);
      return true;
    }
    const request: SandboxRequest = {
      method: req.method!,
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body,
      params: found.params,
      gone: clientGone(res),
    };
    const injected = await before?.(request);
    if (injected === 'hang') return true; // never answered; the client's timeout must cope
    // The client left during an injected delay: the request is dropped unprocessed.
    if (request.gone.aborted) return true;
    send(res, injected ?? (await found.handler(request)));
    return true;
  };
}

/** The JSON body of a request, or undefined when it is not a JSON object. */
export function jsonBody(req: SandboxRequest): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(req.body.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
