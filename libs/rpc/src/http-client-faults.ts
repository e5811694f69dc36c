import { Code, ConnectError } from '@connectrpc/connect';
import { compressionBrotli, compressionGzip } from '@connectrpc/connect-node';
import { encodeEnvelope, type Compression, type UniversalServerResponse } from '@connectrpc/connect/protocol';
import {
  codeToHttpStatus,
  createEndStreamSerialization,
  endStreamFlag,
  errorFromJsonBytes,
  errorToJsonBytes,
} from '@connectrpc/connect/protocol-connect';
import {
  setTrailerStatus,
  trailerFlag,
  trailerParse,
  trailerSerialize,
} from '@connectrpc/connect/protocol-grpc-web';
import { findTrailerError } from '@connectrpc/connect/protocol-grpc';

// connect-es (2.1) reports some malformed requests as its own fault: an undecodable protobuf body is
// Internal "parse binary: …", a compressed message without a declared encoding Internal, a corrupt
// gzip body Internal "decompression failed"; a missing or extra message is Unimplemented. It has no
// option to change that, so the kit corrects it on the way out: decompression at its source (the
// Compression objects are ours to give), the rest by rewriting the error answer of a request that
// never reached its handler. A call that did reach its handler is never rewritten: a handler's own
// Internal (a peer's garbage, say) stays Internal.

/**
 * The caller's fault behind one of connect-es' misclassified errors, with a message saying what
 * was wrong; undefined for every other error (including real Internal ones).
 */
export function clientFault(error: ConnectError, inputType: string): ConnectError | undefined {
  const message = error.rawMessage;
  if (error.code === Code.Internal) {
    if (message.startsWith('parse binary: '))
      return invalid(`request is not a valid ${inputType}: ${message.slice('parse binary: '.length)}`);
    if (message.startsWith('received compressed envelope'))
      return invalid(
        'the request message is flagged compressed but the request names no encoding: ' +
          'send grpc-encoding (gRPC-Web) or connect-content-encoding (Connect streaming), or clear the flag',
      );
  }
  if (error.code === Code.Unimplemented) {
    if (message.startsWith('protocol error: received extra input message'))
      return invalid('the request carried more than one message; this method takes exactly one');
    if (message.startsWith('protocol error: missing input message'))
      return invalid('the request carried no message; this method takes exactly one');
  }
  return undefined;
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/**
 * gzip and br as connect-node implements them (bounded by `readMaxBytes` after inflation: a
 * decompression bomb stops at the limit with ResourceExhausted), except that a body that does not
 * inflate is InvalidArgument naming zlib's reason instead of Internal "decompression failed".
 */
export const CLIENT_SAFE_COMPRESSION: Compression[] = [compressionGzip, compressionBrotli].map(
  (compression) => ({
    name: compression.name,
    compress: (bytes) => compression.compress(bytes),
    decompress: (bytes, readMaxBytes) =>
      compression.decompress(bytes, readMaxBytes).catch((err: unknown) => {
        throw corruptInput(err, compression.name) ?? err;
      }),
  }),
);

function corruptInput(err: unknown, name: string): ConnectError | undefined {
  if (!(err instanceof ConnectError) || err.code === Code.ResourceExhausted) return undefined;
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  // zlib's data errors and brotli's format errors are about the input; Z_MEM_ERROR is ours.
  const inputFault =
    (code.startsWith('Z_') && code !== 'Z_MEM_ERROR') ||
    code.startsWith('ERR__ERROR_FORMAT_') ||
    code.startsWith('ERR_PADDING_');
  if (!inputFault) return undefined;
  const reason = typeof cause?.message === 'string' ? `: ${cause.message}` : '';
  return invalid(`the request body is not valid ${name}${reason}`);
}

/**
 * The answer to a request that failed before its handler ran, with a misclassified error
 * rewritten as {@link clientFault} says. Such an answer is an error and nothing else: one small
 * chunk (a Connect error body, a Connect end-stream message or a gRPC-Web trailer); anything
 * else is passed through untouched.
 */
export async function rewriteClientFault(
  res: UniversalServerResponse,
  inputType: string,
): Promise<UniversalServerResponse> {
  const contentType = res.header?.get('content-type') ?? '';
  if (res.body === undefined || res.header?.has('content-encoding')) return res;
  const it = res.body[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done === true) return res;
  const chunk = first.value;
  const rest = { [Symbol.asyncIterator]: () => it };
  let rewritten: (Omit<UniversalServerResponse, 'body'> & { body?: Uint8Array }) | undefined;
  if (contentType.startsWith('application/json')) rewritten = rewriteUnary(res, chunk, inputType);
  else if (contentType.startsWith('application/connect+'))
    rewritten = { ...res, body: rewriteEnvelope(chunk, endStreamFlag, inputType) };
  else if (contentType.startsWith('application/grpc-web'))
    rewritten = { ...res, body: rewriteEnvelope(chunk, trailerFlag, inputType) };
  return { ...res, ...rewritten, body: prepend(rewritten?.body ?? chunk, rest) };
}

async function* prepend(first: Uint8Array, rest: AsyncIterable<Uint8Array>) {
  yield first;
  yield* rest;
}

const UNKNOWN = new ConnectError('unparseable error', Code.Unknown);

/** A Connect unary error answer: the body is the error's JSON, the status its HTTP mapping. */
function rewriteUnary(res: UniversalServerResponse, chunk: Uint8Array, inputType: string) {
  if (res.status < 400) return undefined;
  let fault: ConnectError | undefined;
  try {
    fault = clientFault(errorFromJsonBytes(chunk, undefined, UNKNOWN), inputType);
  } catch {
    return undefined;
  }
  if (fault === undefined) return undefined;
  const body = errorToJsonBytes(fault, {});
  const header = new Headers(res.header);
  header.set('content-length', String(body.byteLength));
  return { status: codeToHttpStatus(fault.code), header, body };
}

const endStream = createEndStreamSerialization({});

/** A stream's closing envelope (Connect end-stream or gRPC-Web trailer) with its error rewritten. */
function rewriteEnvelope(chunk: Uint8Array, flag: number, inputType: string): Uint8Array | undefined {
  // Exactly the flag: a compressed closing envelope (only ever over 1 KiB) is left alone.
  if (chunk[0] !== flag || chunk.byteLength < 5) return undefined;
  const data = chunk.subarray(5);
  try {
    if (flag === endStreamFlag) {
      const { metadata, error } = endStream.parse(data);
      const fault = error && clientFault(error, inputType);
      return fault && encodeEnvelope(endStreamFlag, endStream.serialize({ metadata, error: fault }));
    }
    const trailer = trailerParse(data);
    const error = findTrailerError(trailer);
    const fault = error && clientFault(error, inputType);
    if (fault === undefined) return undefined;
    for (const name of ['grpc-status', 'grpc-message', 'grpc-status-details-bin']) trailer.delete(name);
    return encodeEnvelope(trailerFlag, trailerSerialize(setTrailerStatus(trailer, fault)));
  } catch {
    return undefined;
  }
}
