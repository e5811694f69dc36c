import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServerLimits } from './limits.js';

/**
 * How long an idle keep-alive connection stays open. Longer than the idle timeouts of the proxies
 * in front (a cloud load balancer's 60 s), so a proxy never sends a request on a socket the server
 * is closing (a reset, and a failed POST); an idle socket costs a few KB and `maxConnections` caps
 * them; a drain closes idle sockets at once.
 */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** An unread body up to this size is drained rather than costing the client its connection. */
const SMALL_UNREAD_BODY_BYTES = 64 * 1024;

/** After answering a request that was not read to its end, how long the sender may linger. */
const UNREAD_BODY_LINGER_MS = 1_000;

/**
 * Applies the kit's limits to the http port's node server. Node enforces the header and request
 * timeouts only when it sweeps its connections, every `connectionsCheckingInterval` (30 s by
 * default, which would let a slow sender hold a socket well past its timeout); the sweep here runs
 * at a quarter of the shortest timeout, at most once a second (one native pass over the
 * connection list). `connectionsCheckingInterval` is a `createServer` option that Node reads from
 * the server when it starts listening, so call this before `listen()`.
 */
export function applyHttpLimits(server: Server, limits: ServerLimits): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.maxConnections = limits.maxConnections;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  const sweepMs = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4;
  Object.assign(server, { connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(sweepMs))) });
  server.on('clientError', answerClientError);
}

const answeredClientErrors = new WeakSet<Duplex>();

/**
 * Answers a request Node's parser refused (headers over `maxHeaderSize`: 431; the header or
 * request timeout: 408; anything malformed: 400) and closes the connection with a linger. Node's
 * own answer destroys the socket right after writing, while the rest of the oversized headers is
 * still unread: that resets the connection, and a reset can discard the answer before the client
 * reads it. Here the sending side is ended, reading stops, and the socket is destroyed after the
 * linger, when the client has had the answer.
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (answeredClientErrors.has(socket)) return;
  answeredClientErrors.add(socket);
  // An answer already on its way (a pipelined request before this one) must not be corrupted.
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  socket.pause();
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  const linger = setTimeout(() => socket.destroy(), UNREAD_BODY_LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
}

const watched = new WeakSet<ServerResponse>();

/**
 * Closes the connection once a request has been answered without its body read to the end (an
 * oversize or refused body, a 404 for a large POST). Node would otherwise keep the socket and read
 * the rest of the body, however large and however slowly sent, until the request timeout: 200
 * clients declaring 100 MB and trickling bytes would each hold a socket for that long.
 *
 * The close lingers, as nginx's does: the socket's sending side is ended after the answer (the
 * client sees the answer, then the end), what the client still sends is read and dropped, and the
 * socket is destroyed after {@link UNREAD_BODY_LINGER_MS} at most. Destroying it at once (as
 * Node does after `Connection: close`) would reset a connection with unread data in it, and a
 * reset can discard the answer before the client reads it; so the answers of refused bodies do
 * not say `Connection: close`. The kit's http port does this for every request; a route served by
 * a server of its own (a test's) calls it itself. Safe to call more than once.
 */
export function closeWhenBodyUnread(req: IncomingMessage, res: ServerResponse): void {
  if (watched.has(res)) return;
  watched.add(res);
  // Taken now: Node detaches the socket from the request and response once the answer is done.
  const socket = req.socket;
  res.once('finish', () => {
    if (req.complete || socket.destroyed) return;
    // A small body the answer did not need (a 404 for a short POST) is read and dropped, as Node
    // does, keeping the connection: a keep-alive client may already be sending its next request
    // on it. Only a body declared or found larger than that, or still arriving after the linger,
    // costs the client its connection.
    const declared = Number(req.headers['content-length']);
    if (!(declared > SMALL_UNREAD_BODY_BYTES)) {
      drainOrClose(req, socket);
      return;
    }
    closeLingering(socket);
  });
}

/** Reads and drops the rest of a small body; closes the connection if it grows large or slow. */
function drainOrClose(req: IncomingMessage, socket: Duplex): void {
  let dropped = 0;
  const tooSlow = setTimeout(() => closeLingering(socket), UNREAD_BODY_LINGER_MS);
  tooSlow.unref();
  const onData = (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped <= SMALL_UNREAD_BODY_BYTES) return;
    req.off('data', onData);
    clearTimeout(tooSlow);
    closeLingering(socket);
  };
  req.on('data', onData);
  req.once('end', () => clearTimeout(tooSlow));
  req.resume();
}

/** Ends the sending side now and destroys the socket after the linger (see {@link closeWhenBodyUnread}). */
function closeLingering(socket: Duplex): void {
  if (socket.destroyed || socket.writableEnded) return;
  socket.end();
  const linger = setTimeout(() => socket.destroy(), UNREAD_BODY_LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
}
