import type { IncomingMessage } from 'node:http';
import getRawBody from 'raw-body';

/** Why a request body was not read: the HTTP status to answer with and a message for the sender. */
export class HttpBodyError extends Error {
  constructor(
    /** 400 (the body ended early or did not match its length), 408, 413 or 415. */
    readonly status: 400 | 408 | 413 | 415,
    message: string,
  ) {
    super(message);
    this.name = 'HttpBodyError';
  }
}

/** Options of {@link readRequestBody}. */
export interface ReadRequestBodyOptions {
  /** Largest body accepted, in bytes; never more than this is buffered. */
  readonly maxBytes: number;
  /** Time the sender has to deliver the whole body once the handler starts reading it. */
  readonly timeoutMs: number;
}

/**
 * Reads a webhook's raw body (signatures are over these exact bytes) with the limits every
 * webhook needs, so none of them hand-rolls a size check again:
 * - a `Content-Encoding` other than identity is refused with 415 before anything is read (a
 *   webhook inflating a body would reopen the decompression bomb the limit closes);
 * - a declared `Content-Length` over `maxBytes` is refused with 413 before anything is read, and
 *   a body streamed past `maxBytes` as soon as it passes it: memory never holds more;
 * - a body still arriving after `timeoutMs` is refused with 408 (a slow sender cannot hold a
 *   handler, and its place in a webhook's concurrency limit, for the server's whole request timeout).
 *
 * Throws {@link HttpBodyError}; answer with its status and message. The kit's http port closes the
 * connection after such an answer, so an unread rest of the body costs nothing further.
 * Built on `raw-body` (the express team's reader): its length check and limit are the part worth
 * not writing twice.
 */
export async function readRequestBody(
  req: IncomingMessage,
  options: ReadRequestBodyOptions,
): Promise<Buffer> {
  const { maxBytes, timeoutMs } = options;
  const length = checkRequestBody(req, maxBytes);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Stop taking bytes for a body nobody will use; the answer closes the connection.
      req.pause();
      reject(new HttpBodyError(408, `the body did not arrive within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    const read = getRawBody(req, { length, limit: maxBytes }).catch((err: unknown) => {
      throw bodyError(err, maxBytes);
    });
    return await Promise.race([read, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The checks {@link readRequestBody} makes before reading, for a webhook that wants them before it
 * queues the request: throws {@link HttpBodyError} 415 for a compressed body, 413 for a declared
 * length over `maxBytes`. Returns the declared length, if any.
 */
export function checkRequestBody(req: IncomingMessage, maxBytes: number): number | undefined {
  const encoding = req.headers['content-encoding']?.trim().toLowerCase();
  if (encoding && encoding !== 'identity')
    throw new HttpBodyError(415, `Content-Encoding ${encoding} is not accepted; send the body uncompressed`);
  // Node's parser already refuses a request carrying both Content-Length and chunked encoding.
  const declared = req.headers['content-length'];
  const length = declared === undefined ? undefined : Number(declared);
  if (length !== undefined && length > maxBytes) throw tooLarge(maxBytes);
  return length;
}

function tooLarge(maxBytes: number): HttpBodyError {
  return new HttpBodyError(413, `body over ${maxBytes} bytes`);
}

/** raw-body's errors (http-errors with a `type`) and the request's own, as the sender should see them. */
function bodyError(err: unknown, maxBytes: number): unknown {
  const { type, code, expected, received } = (err ?? {}) as {
    type?: string;
    code?: string;
    expected?: number;
    received?: number;
  };
  if (type === 'entity.too.large') return tooLarge(maxBytes);
  if (type === 'request.size.invalid')
    return new HttpBodyError(400, `body of ${received} bytes does not match its Content-Length ${expected}`);
  if (type === 'request.aborted' || code === 'ECONNRESET' || code === 'ECONNABORTED')
    return new HttpBodyError(400, 'the request ended before its whole body arrived');
  return err;
}
