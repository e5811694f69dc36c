import type { IncomingMessage, ServerResponse } from 'node:http';
import { Code, ConnectError } from '@connectrpc/connect';
import { encodeEnvelope } from '@connectrpc/connect/protocol';
import {
  codeToHttpStatus,
  createEndStreamSerialization,
  endStreamFlag,
  errorToJsonBytes,
} from '@connectrpc/connect/protocol-connect';
import { setTrailerStatus, trailerFlag, trailerSerialize } from '@connectrpc/connect/protocol-grpc-web';

/** A gRPC-Web or Connect streaming message is framed: 5 bytes of flags and length before it. */
const ENVELOPE_HEADER_BYTES = 5;

/**
 * Refuses an RPC request whose body is over the limit, at the door. connect-es checks a declared
 * length only for Connect unary and each framed message's length only once its header arrives,
 * so a gRPC-Web request declaring 100 MB and sending a trickle would hold its handler; and going
 * through connect-es at all costs each refused request its handler machinery (abort signals,
 * errors with stacks), which a burst of hundreds of them turns into an event-loop stall.
 *
 * `refuseDeclared` answers a request whose `Content-Length` is over the limit (plus one frame
 * header) with ResourceExhausted in its protocol's own form, from answers encoded once here (the
 * http handler then closes the connection, see `closeWhenBodyUnread`); `bounded` wraps a body
 * whose length was not declared so it fails with the same error once it passes the limit.
 */
export function createOversizeRefusal(maxRequestBytes: number) {
  const maxBytes = maxRequestBytes + ENVELOPE_HEADER_BYTES;
  const error = new ConnectError(
    `request body is over the limit of ${maxRequestBytes} bytes; send less`,
    Code.ResourceExhausted,
  );
  const answers = {
    unary: Buffer.from(errorToJsonBytes(error, {})),
    connectStream: Buffer.from(
      encodeEnvelope(
        endStreamFlag,
        createEndStreamSerialization({}).serialize({ metadata: new Headers(), error }),
      ),
    ),
    grpcWeb: Buffer.from(
      encodeEnvelope(trailerFlag, trailerSerialize(setTrailerStatus(new Headers(), error))),
    ),
  };

  function refuseDeclared(req: IncomingMessage, res: ServerResponse): boolean {
    if (!(Number(req.headers['content-length']) > maxBytes)) return false;
    const contentType = req.headers['content-type'] ?? '';
    const [status, type, body] = contentType.startsWith('application/grpc-web')
      ? [200, contentType, answers.grpcWeb]
      : contentType.startsWith('application/connect+')
        ? [200, contentType, answers.connectStream]
        : [codeToHttpStatus(Code.ResourceExhausted), 'application/json', answers.unary];
    res.writeHead(status, { 'content-type': type, 'content-length': body.length });
    res.end(body);
    return true;
  }

  async function* bounded(req: IncomingMessage): AsyncGenerator<Uint8Array> {
    let seen = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      seen += chunk.byteLength;
      if (seen > maxBytes) throw new ConnectError(error.rawMessage, error.code);
      yield chunk;
    }
  }

  return { refuseDeclared, bounded };
}
