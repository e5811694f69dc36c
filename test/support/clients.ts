import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { EchoRequestSchema, EchoResponseSchema, type EchoResponse } from '@wxmesh/contracts';

const run = promisify(execFile);

// Clients here are deliberately generic — plain grpc-js with the message codec, curl, fetch —
// so the tests prove what a client the project did not write sees.
export const ECHO = '/wxmesh.echo.v1.EchoService/Echo';
export const ECHO_STREAM = '/wxmesh.echo.v1.EchoService/EchoStream';
export const encode = (init: Parameters<typeof create<typeof EchoRequestSchema>>[1]) =>
  Buffer.from(toBinary(EchoRequestSchema, create(EchoRequestSchema, init)));
export const decode = (b: Buffer) => fromBinary(EchoResponseSchema, b);
export const identity = (b: Buffer) => b;

/** Unary Echo over a plain grpc-js client with the message codec only. */
export function grpcEcho(
  client: grpc.Client,
  request: Parameters<typeof encode>[0],
  metadata = new grpc.Metadata(),
  options: grpc.CallOptions = {},
) {
  return new Promise<EchoResponse>((resolve, reject) =>
    client.makeUnaryRequest(ECHO, identity, decode, encode(request), metadata, options, (err, res) =>
      err ? reject(err) : resolve(res!),
    ),
  );
}

/** Frames one message the way gRPC-Web does (flag byte + big-endian length). */
export function grpcWebFrame(payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** Splits a gRPC-Web response body into its data messages and its trailer block. */
export function parseGrpcWeb(body: Buffer) {
  const messages: Buffer[] = [];
  let trailers: Record<string, string> = {};
  for (let at = 0; at < body.length;) {
    const flags = body[at]!;
    const length = body.readUInt32BE(at + 1);
    const chunk = body.subarray(at + 5, at + 5 + length);
    if (flags & 0x80) {
      trailers = Object.fromEntries(
        chunk
          .toString()
          .trim()
          .split('\r\n')
          .map((line) => {
            const i = line.indexOf(':');
            return [line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()];
          }),
      );
    } else messages.push(chunk);
    at += 5 + length;
  }
  return { messages, trailers };
}

/** Unary Echo as a browser's gRPC-Web client sends it: fetch with a binary frame. */
export async function grpcWebEcho(
  httpUrl: string,
  request: Parameters<typeof encode>[0],
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${httpUrl}${ECHO}`, {
    method: 'POST',
    headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1', ...headers },
    body: grpcWebFrame(encode(request)),
  });
  const parsed = parseGrpcWeb(Buffer.from(await response.arrayBuffer()));
  const status = Number(response.headers.get('grpc-status') ?? parsed.trailers['grpc-status']);
  return { http: response.status, status, messages: parsed.messages.map(decode), trailers: parsed.trailers };
}

/** A Connect JSON call made by curl over HTTP/1.1, as the cloud gateway or a developer would. */
export async function curlConnect(httpUrl: string, path: string, body: unknown, headers: string[] = []) {
  const args = ['-sS', '--http1.1', '-o', '-', '-w', '\n%{http_code}', '-X', 'POST'];
  for (const h of ['Content-Type: application/json', ...headers]) args.push('-H', h);
  args.push('--data', JSON.stringify(body), `${httpUrl}${path}`);
  const { stdout } = await run('curl', args);
  const i = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(i + 1)), body: JSON.parse(stdout.slice(0, i)) };
}
