import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';

/** What a server answered a raw gRPC call: its grpc-status and (decoded) grpc-message. */
export interface RawGrpcAnswer {
  readonly code: number;
  readonly message: string;
}

/**
 * A gRPC length-prefixed message; `declared` overrides the length written in its prefix (to
 * send a frame that lies about its size).
 */
export function grpcFrame(
  payload: Uint8Array,
  options: { compressed?: boolean; declared?: number } = {},
): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(options.compressed ? 1 : 0, 0);
  head.writeUInt32BE(options.declared ?? payload.length, 1);
  return Buffer.concat([head, payload]);
}

/**
 * One gRPC request with a hand-made body on an HTTP/2 session, for tests of what a server does
 * with input no gRPC library would send (or with only the headers given): resolves with the
 * grpc-status and grpc-message it sent, whether in headers or trailers. Once the status is in,
 * the rest of a large body is not sent (the stream is closed); a stream reset before any status
 * rejects, naming the reset code.
 */
export function rawGrpcCall(
  session: ClientHttp2Session,
  path: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<RawGrpcAnswer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    let answer: RawGrpcAnswer | undefined;
    const take = (h: IncomingHttpHeaders) => {
      if (h['grpc-status'] === undefined) return;
      answer = {
        code: Number(h['grpc-status']),
        message: decodeURIComponent(String(h['grpc-message'] ?? '')),
      };
      if (!stream.writableFinished) stream.close();
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('data', () => {});
    // The server may answer and reset the stream while the body is still being written.
    stream.on('error', (err) => (answer ? resolve(answer) : reject(err)));
    stream.on('close', () =>
      answer
        ? resolve(answer)
        : reject(new Error(`${path}: no grpc-status (stream reset ${stream.rstCode})`)),
    );
    stream.end(body);
  });
}
