import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { EchoRequestSchema, EchoService } from '@wxmesh/contracts';
import { waitFor } from '@wxmesh/testing';
import { Registry } from 'prom-client';
import {
  createLogger,
  defineService,
  echoService,
  HttpBodyError,
  readRequestBody,
  RpcServer,
  type HttpRoute,
} from './index.js';

// The http port's defences in one process: bodies bounded before they are read, client garbage
// answered as the client's fault on Connect and gRPC-Web, a handler's own faults left alone,
// internal addresses kept from edge callers, and the kit's webhook body reader.

const logger = createLogger({ name: 'http-transport-test', level: 'silent' });
const callers = { behindGateway: true, peerIdentity: 'declared' as const };
const MAX = 64 * 1024;
const ECHO = '/wxmesh.echo.v1.EchoService/Echo';
const ECHO_STREAM = '/wxmesh.echo.v1.EchoService/EchoStream';
const echoBytes = (message: string) =>
  Buffer.from(toBinary(EchoRequestSchema, create(EchoRequestSchema, { message })));
const frame = (payload: Buffer, flags = 0) => {
  const header = Buffer.alloc(5);
  header.writeUInt8(flags, 0);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
};

/** The webhook under test: the kit's body reader, answering what it refused with its status. */
const webhook: HttpRoute = async (req, res) => {
  if (req.url !== '/hook') return false;
  try {
    const body = await readRequestBody(req, { maxBytes: 1024, timeoutMs: 300 });
    res.writeHead(200).end(`read ${body.length}`);
  } catch (err) {
    if (!(err instanceof HttpBodyError)) throw err;
    res.writeHead(err.status).end(err.message);
  }
  return true;
};

/** An Echo whose handler fails the way a peer or a dependency makes it fail. */
const failing = defineService(EchoService, {
  echo(request) {
    if (request.message === 'peer-garbage')
      throw new ConnectError('parse binary: premature EOF', Code.Internal);
    throw new ConnectError(
      'Deadline exceeded after 0.501s,LB pick: 0.001s,remote_addr=10.0.3.7:50051',
      Code.DeadlineExceeded,
    );
  },
});

let server: RpcServer;
let other: RpcServer;
let port: number;
let otherPort: number;
before(async () => {
  const limits = { maxRequestBytes: MAX, headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 };
  server = new RpcServer({
    name: 'http-test',
    services: [echoService],
    logger,
    registry: new Registry(),
    callers,
    limits,
    httpRoutes: [webhook],
  });
  other = new RpcServer({
    name: 'http-test-2',
    services: [failing],
    logger,
    registry: new Registry(),
    callers,
  });
  port = (await server.start()).httpPort;
  otherPort = (await other.start()).httpPort;
});
after(async () => {
  await Promise.all([server.shutdown(), other.shutdown()]);
});

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The server closed the connection (after or instead of answering). */
  closed: boolean;
  elapsedMs: number;
}

/**
 * Sends `head` and `body` on a fresh socket and waits for a complete answer or the socket's end.
 * Whatever the server does, this settles: answered in full (by Content-Length) or closed.
 */
function raw(head: string, body: Buffer | string = '', to = port, keepOpen = false): Promise<RawAnswer> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket: Socket = connect(to, '127.0.0.1');
    let data = Buffer.alloc(0);
    const settle = (closed: boolean) => {
      const text = data.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const lines = text.slice(0, end < 0 ? undefined : end).split('\r\n');
      const headers = Object.fromEntries(
        lines
          .slice(1)
          .map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
      );
      resolve({
        status: Number(lines[0]?.split(' ')[1] ?? 0),
        headers,
        body: end < 0 ? Buffer.alloc(0) : data.subarray(end + 4),
        closed,
        elapsedMs: Date.now() - started,
      });
    };
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const text = data.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1];
      const complete =
        end >= 0 &&
        (length === undefined ? text.endsWith('\r\n0\r\n\r\n') : data.length >= end + 4 + Number(length));
      if (!keepOpen && complete) {
        socket.destroy();
        settle(false);
      }
    });
    socket.on('close', () => settle(true));
    socket.on('error', () => {});
    socket.write(head);
    socket.write(body);
  });
}

function post(path: string, contentType: string, body: Buffer | string, extra: Record<string, string> = {}) {
  const headers = {
    host: 'x',
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    ...extra,
  };
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  return `POST ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

function json(answer: RawAnswer) {
  return JSON.parse(answer.body.toString()) as { code: string; message: string };
}

/** The gRPC-Web trailer of an answer, from its body. */
function grpcWebStatus(answer: RawAnswer) {
  const body = decodeChunked(answer);
  for (let at = 0; at < body.length; at += 5 + body.readUInt32BE(at + 1)) {
    if (body[at] === 0x80) {
      const text = body.subarray(at + 5, at + 5 + body.readUInt32BE(at + 1)).toString();
      const status = /grpc-status: *(\d+)/.exec(text)?.[1];
      const message = decodeURIComponent(/grpc-message: *([^\r]*)/.exec(text)?.[1] ?? '');
      return { status: Number(status), message };
    }
  }
  return { status: -1, message: '' };
}

function decodeChunked(answer: RawAnswer): Buffer {
  if (answer.headers['transfer-encoding'] !== 'chunked') return answer.body;
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = answer.body.indexOf('\r\n', at);
    const size = parseInt(answer.body.subarray(at, eol).toString(), 16);
    if (!(size > 0)) break;
    parts.push(answer.body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

test('Connect binary garbage is 400 invalid_argument naming the type; malformed JSON too', async () => {
  const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
  const binary = await raw(post(ECHO, 'application/proto', garbage), garbage);
  assert.equal(binary.status, 400);
  assert.equal(json(binary).code, 'invalid_argument');
  assert.match(json(binary).message, /^request is not a valid wxmesh\.echo\.v1\.EchoRequest: /);
  const badJson = await raw(post(ECHO, 'application/json', '{"message": '), '{"message": ');
  assert.equal(badJson.status, 400);
  assert.equal(json(badJson).code, 'invalid_argument');
  assert.match(json(badJson).message, /EchoRequest from JSON/);
});

test('gRPC-Web: a garbage message, a compressed flag without an encoding, two messages: status 3', async () => {
  const cases: Array<[Buffer, RegExp]> = [
    [frame(Buffer.from([0xff, 0xff, 0xff])), /not a valid wxmesh\.echo\.v1\.EchoRequest/],
    [frame(echoBytes('hi'), 1), /flagged compressed/],
    [Buffer.concat([frame(echoBytes('a')), frame(echoBytes('b'))]), /more than one message/],
    [Buffer.alloc(0), /no message/],
  ];
  for (const [body, message] of cases) {
    const answer = await raw(post(ECHO, 'application/grpc-web+proto', body, { 'x-grpc-web': '1' }), body);
    assert.equal(answer.status, 200);
    const status = grpcWebStatus(answer);
    assert.equal(status.status, Code.InvalidArgument, status.message);
    assert.match(status.message, message);
  }
});

test('Connect streaming garbage ends the stream with invalid_argument', async () => {
  const body = frame(Buffer.from([0xff, 0xff, 0xff]));
  const answer = await raw(post(ECHO_STREAM, 'application/connect+proto', body), body);
  const payload = decodeChunked(answer);
  assert.equal(payload[0], 0x02, 'an end-stream message');
  const end = JSON.parse(payload.subarray(5).toString()) as { error: { code: string; message: string } };
  assert.equal(end.error.code, 'invalid_argument');
  assert.match(end.error.message, /not a valid wxmesh\.echo\.v1\.EchoRequest/);
});

test('gzip: a corrupt body is invalid_argument; one inflating past the limit is resource_exhausted', async () => {
  const corrupt = Buffer.from('1f8b0800000000000003ffffffff', 'hex');
  const bad = await raw(post(ECHO, 'application/proto', corrupt, { 'content-encoding': 'gzip' }), corrupt);
  assert.equal(bad.status, 400);
  assert.equal(json(bad).code, 'invalid_argument');
  assert.match(json(bad).message, /not valid gzip/);
  const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024));
  const big = await raw(post(ECHO, 'application/proto', bomb, { 'content-encoding': 'gzip' }), bomb);
  assert.equal(json(big).code, 'resource_exhausted');
  const streamed = frame(bomb, 1);
  const web = await raw(
    post(ECHO, 'application/grpc-web+proto', streamed, { 'grpc-encoding': 'gzip' }),
    streamed,
  );
  assert.equal(grpcWebStatus(web).status, Code.ResourceExhausted);
});

test('a body declared over the limit is refused at once and the connection closed', async () => {
  for (const [contentType, extra] of [
    ['application/json', {}],
    ['application/grpc-web+proto', { 'x-grpc-web': '1' }],
    ['application/connect+proto', {}],
  ] as const) {
    const path = contentType === 'application/connect+proto' ? ECHO_STREAM : ECHO;
    const head = post(path, contentType, '', { ...extra, 'content-length': String(100 * 1024 * 1024) });
    // 20 bytes: a frame header promising a small message, and the start of it.
    const trickle = frame(Buffer.alloc(1_000)).subarray(0, 20);
    const answer = await raw(head, trickle, port, true);
    assert.ok(answer.closed, contentType);
    assert.ok(answer.elapsedMs < 1_500, `${contentType}: closed after ${answer.elapsedMs} ms`);
    const text = answer.body.toString();
    assert.match(text, /resource_exhausted|grpc-status: ?8|over the limit/, contentType);
  }
});

test('a chunked body past the limit is refused once it passes it, without reading the rest', async () => {
  const socket = connect(port, '127.0.0.1');
  let answer = '';
  socket.on('data', (c) => (answer += c.toString()));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(
    `POST ${ECHO} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`,
  );
  const chunk = Buffer.alloc(16 * 1024, 0x20);
  let sent = 0;
  while (!socket.destroyed && answer === '' && sent < 50 * 1024 * 1024) {
    await new Promise<void>((resolve) =>
      socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`, () => resolve()),
    );
    sent += chunk.length;
  }
  await closed;
  assert.match(answer, /resource_exhausted/);
  assert.ok(sent < 10 * 1024 * 1024, `stopped early (${sent} bytes sent)`);
});

test('a handler’s own Internal stays Internal; an internal address never reaches the edge', async () => {
  const peer = JSON.stringify({ message: 'peer-garbage' });
  const own = await raw(post(ECHO, 'application/json', peer), peer, otherPort);
  assert.equal(own.status, 500);
  assert.equal(json(own).code, 'internal');
  const late = JSON.stringify({ message: 'late' });
  const deadline = await raw(post(ECHO, 'application/json', late), late, otherPort);
  assert.equal(json(deadline).code, 'deadline_exceeded');
  assert.equal(json(deadline).message, 'deadline exceeded');
});

test('an HTTP/1.0 request without Host is 400 and the server carries on', async () => {
  const answer = await raw(
    `POST ${ECHO} HTTP/1.0\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n`,
    '{}',
  );
  assert.equal(answer.status, 400);
  const ok = await raw(post(ECHO, 'application/json', '{"message":"hi"}'), '{"message":"hi"}');
  assert.equal(ok.status, 200);
});

test('silent and slow senders are cut at the header and request timeouts', async () => {
  const silent = await raw('', '', port, true);
  assert.ok(silent.closed && silent.elapsedMs < 2_000, `silent socket closed after ${silent.elapsedMs} ms`);
  const slow = await raw(post(ECHO, 'application/json', '{"message":"x"}'), '{"mess', port, true);
  assert.ok(slow.closed && slow.elapsedMs < 3_500, `slow body closed after ${slow.elapsedMs} ms`);
});

test('headers over the limit are answered 431 before the connection closes', async () => {
  // Header bytes keep coming after the limit is passed: closing with them unread would reset the
  // connection and could lose the answer.
  for (let i = 0; i < 10; i++) {
    const answer = await raw(
      `POST ${ECHO} HTTP/1.1\r\nhost: x\r\nx-big: ${'b'.repeat(1024 * 1024)}`,
      '',
      port,
      true,
    );
    assert.equal(answer.status, 431, `attempt ${i}`);
    assert.ok(answer.closed);
  }
});

test('readRequestBody: 200, 415 compressed, 413 declared and streamed, 408 slow', async () => {
  const ok = await raw(post('/hook', 'text/plain', 'hello'), 'hello');
  assert.deepEqual([ok.status, decodeChunked(ok).toString()], [200, 'read 5']);
  const gz = await raw(post('/hook', 'text/plain', 'x', { 'content-encoding': 'gzip' }), 'x');
  assert.equal(gz.status, 415);
  assert.match(gz.body.toString(), /Content-Encoding gzip is not accepted/);
  const declared = await raw(
    post('/hook', 'text/plain', '', { 'content-length': '100000000' }),
    'abc',
    port,
    true,
  );
  assert.equal(declared.status, 413);
  assert.ok(declared.closed && declared.elapsedMs < 1_500, `closed after ${declared.elapsedMs} ms`);
  const big = Buffer.alloc(4096, 0x61);
  const streamed = await raw(
    `POST /hook HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n`,
    `${big.length.toString(16)}\r\n${big}\r\n`,
    port,
    true,
  );
  assert.equal(streamed.status, 413);
  assert.match(streamed.body.toString(), /over 1024 bytes/);
  const slow = await raw(post('/hook', 'text/plain', 'abcdef'), 'abc', port, true);
  assert.equal(slow.status, 408);
  assert.ok(slow.closed, 'the connection is closed after a 408');
});

test('after all of it the server still answers', async () => {
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, {
    timeoutMs: 2_000,
    message: '/healthz answers',
  });
});
