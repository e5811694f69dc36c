// Tools of bad-input-http.spec.ts: a raw HTTP/1.1 exchange that sends exactly what it is told (and
// keeps sending until the server answers or closes), an Echo prober on a thread of its own, and a
// process's resident memory from /proc.
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fork } from 'node:child_process';
import { setPriority } from 'node:os';

/** What a raw exchange saw. */
export interface Exchange {
  /** 0 when the server closed without answering. */
  status: number;
  headers: Record<string, string>;
  /** The body, de-chunked. */
  body: Buffer;
  /** The server closed the connection. */
  closed: boolean;
  /** Body bytes the client managed to write before the answer or the close. */
  written: number;
  /** From connecting to the full answer or the close. */
  elapsedMs: number;
}

/** Options of {@link exchange}. */
export interface ExchangeOptions {
  /** Sent once the headers are out; a generator keeps producing until the server answers. */
  body?: Buffer | string | Iterable<Buffer>;
  /** Wait for the server to close the connection, not only for the answer. */
  untilClosed?: boolean;
  /** Give up (and report what was seen) after this long. */
  timeoutMs?: number;
  /** Called once the head and the first body chunk have been handed to the kernel. */
  onSent?: () => void;
}

/**
 * One HTTP/1.1 request on a fresh socket, written byte for byte as given (`head` ends with the
 * blank line), then the body; the body's chunks are written one at a time, each after the last
 * was taken, and writing stops as soon as an answer arrives or the server closes.
 */
export function exchange(httpUrl: string, head: string, options: ExchangeOptions = {}): Promise<Exchange> {
  const { port, hostname } = new URL(httpUrl);
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let data = Buffer.alloc(0);
    let written = 0;
    let settled = false;
    const settle = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parseAnswer(data), closed, written, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(() => settle(false), options.timeoutMs ?? 30_000);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (!options.untilClosed && answerComplete(data)) settle(false);
    });
    socket.on('close', () => settle(true));
    socket.on('error', () => {});
    socket.write(head);
    const body = options.body ?? '';
    const chunks = typeof body === 'string' || Buffer.isBuffer(body) ? [Buffer.from(body)] : body;
    const it = chunks[Symbol.iterator]();
    let first = true;
    const writeNext = () => {
      if (first) options.onSent?.();
      first = false;
      if (settled || data.length > 0 || socket.destroyed) return;
      const next = it.next();
      if (next.done === true) return;
      written += next.value.length;
      socket.write(next.value, (err) => (err ? undefined : setImmediate(writeNext)));
    };
    socket.on('error', () => options.onSent?.());
    const next = it.next();
    if (next.done === true) writeNext();
    else {
      written += next.value.length;
      socket.write(next.value, () => setImmediate(writeNext));
    }
  });
}

/** A request head: method, path, headers (Host added), blank line. */
export function requestHead(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = Object.entries({ host: 'bad-input.test', ...headers }).map(([k, v]) => `${k}: ${v}`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

function answerComplete(data: Buffer): boolean {
  const text = data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1];
  if (length !== undefined) return data.length >= end + 4 + Number(length);
  return /\r\ntransfer-encoding: *chunked/i.test(text.slice(0, end)) && text.endsWith('\r\n0\r\n\r\n');
}

function parseAnswer(data: Buffer): Pick<Exchange, 'status' | 'headers' | 'body'> {
  const text = data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return { status: 0, headers: {}, body: Buffer.alloc(0) };
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const headers = Object.fromEntries(
    lines.map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
  );
  let body = data.subarray(end + 4);
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; ;) {
    const eol = body.indexOf('\r\n', at);
    const size = parseInt(body.subarray(at, eol).toString(), 16);
    if (eol < 0 || !(size > 0)) break;
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** One message framed as gRPC-Web and Connect streaming frame it: flags, big-endian length, payload. */
export function frame(payload: Buffer, flags = 0): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(flags, 0);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** The envelopes of a gRPC-Web or Connect streaming body. */
export function envelopes(body: Buffer): Array<{ flags: number; data: Buffer }> {
  const out: Array<{ flags: number; data: Buffer }> = [];
  for (let at = 0; at + 5 <= body.length;) {
    const length = body.readUInt32BE(at + 1);
    out.push({ flags: body[at]!, data: body.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}

/** The status a gRPC-Web answer ends with (its trailer frame, or trailers-only headers). */
export function grpcWebStatus(answer: Exchange): { code: number; message: string } {
  const trailer =
    envelopes(answer.body)
      .find((e) => e.flags === 0x80)
      ?.data.toString() ?? '';
  const field = (name: string) =>
    new RegExp(`^${name}: *(.*)$`, 'im').exec(trailer)?.[1]?.trim() ?? answer.headers[name];
  const code = field('grpc-status');
  return {
    code: code === undefined ? -1 : Number(code),
    message: decodeURIComponent(field('grpc-message') ?? ''),
  };
}

/** A process's resident memory now and its peak since the last {@link resetPeakRss}, in bytes. */
export function rss(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
  return { now: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Resets a process's peak resident memory (VmHWM) to its current size (Linux `clear_refs` 5). */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** One process the prober calls Echo on: its grpc address and its http URL. */
export interface ProbeTarget {
  readonly name: string;
  readonly grpcAddress: string;
  readonly httpUrl: string;
}

/** Echo latencies per target and port, in ms; failures as text. */
export interface ProbeReport {
  readonly latencies: Record<string, { grpc: number[]; http: number[] }>;
  readonly failures: string[];
}

// The prober is plain JavaScript on node's own http and http2, run as a process of its own: the
// test process builds and sends megabytes of bad input, and its stalls must not count as the
// server's. Each target is called in turn, grpc Echo then Connect Echo, every 20 ms.
const PROBER = `
const targets = JSON.parse(process.argv[1]);
const http = require('node:http');
const http2 = require('node:http2');
const agent = new http.Agent({ keepAlive: true });
// EchoRequest { message: "p" }, framed for gRPC.
const GRPC_BODY = Buffer.from([0, 0, 0, 0, 3, 0x0a, 0x01, 0x70]);
const CONNECT_BODY = '{"message":"p"}';
const latencies = {};
const failures = [];
let running = true;
const within = (ms, p) => Promise.race([p, new Promise((_, r) => setTimeout(() => r(new Error('no answer in ' + ms + ' ms')), ms))]);
function grpcEcho(session) {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': '/wxmesh.echo.v1.EchoService/Echo', 'content-type': 'application/grpc', te: 'trailers' });
    let status;
    req.on('response', (h) => { if (h['grpc-status'] !== undefined) status = h['grpc-status']; });
    req.on('trailers', (h) => { status = h['grpc-status']; });
    req.on('data', () => {});
    req.on('end', () => (status === '0' ? resolve() : reject(new Error('grpc-status ' + status))));
    req.on('error', reject);
    req.end(GRPC_BODY);
  });
}
function connectEcho(url) {
  return new Promise((resolve, reject) => {
    const req = http.request(url + '/wxmesh.echo.v1.EchoService/Echo', { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error('http ' + res.statusCode))));
    });
    req.on('error', reject);
    req.end(CONNECT_BODY);
  });
}
async function timed(target, port, call) {
  const started = performance.now();
  try {
    await within(5000, call());
    latencies[target.name][port].push(performance.now() - started);
  } catch (err) {
    failures.push(target.name + ' ' + port + ': ' + err.message);
  }
}
async function probe(target) {
  const session = http2.connect('http://' + target.grpcAddress);
  session.on('error', () => {});
  for (let i = 0; i < 5; i++) { await grpcEcho(session).catch(() => {}); await connectEcho(target.httpUrl).catch(() => {}); }
  latencies[target.name] = { grpc: [], http: [] };
  process.send({ warm: target.name });
  while (running) {
    await timed(target, 'grpc', () => grpcEcho(session));
    await timed(target, 'http', () => connectEcho(target.httpUrl));
    await new Promise((r) => setTimeout(r, 20));
  }
  session.close();
}
const done = Promise.all(targets.map(probe));
process.on('message', async () => {
  running = false;
  await done;
  agent.destroy();
  process.send({ latencies, failures }, () => process.exit(0));
});
`;

/** The priority the processes under test and the prober run at; see {@link raisePriority}. */
const HIGH_PRIORITY = -10;

/**
 * Gives a process a larger share of the CPU than the rest of the machine (nice -10), as a pod's CPU
 * request guarantees it its share: the Echo bound is about what bad input does to a process, not
 * about how two busy cores are shared among a dozen other processes and CPU burners. Needs root
 * (as CI runs); returns false where it is not allowed.
 */
export function raisePriority(pid: number): boolean {
  try {
    setPriority(pid, HIGH_PRIORITY);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts calling Echo on each target's grpc and http port from a prober process of its own (at
 * the raised priority); resolves once every target answered its warm-up calls. `stop()` ends the
 * probing and reports every latency.
 */
export async function startEchoProbe(
  targets: readonly ProbeTarget[],
): Promise<{ stop(): Promise<ProbeReport> }> {
  const plain = targets.map(({ name, grpcAddress, httpUrl }) => ({ name, grpcAddress, httpUrl }));
  const prober = fork('-e', [PROBER, JSON.stringify(plain)], {
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  raisePriority(prober.pid!);
  const warm = new Set<string>();
  let report: ((r: ProbeReport) => void) | undefined;
  const reported = new Promise<ProbeReport>((resolve) => (report = resolve));
  const exited = new Promise<void>((resolve) => prober.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    prober.once('error', reject);
    void exited.then(() => reject(new Error('the Echo prober exited before it was warm')));
    prober.on('message', (m: { warm?: string } & Partial<ProbeReport>) => {
      if (m.warm !== undefined) {
        warm.add(m.warm);
        if (warm.size === targets.length) resolve();
      } else report!(m as ProbeReport);
    });
  });
  return {
    async stop() {
      prober.send('stop');
      const result = await Promise.race([
        reported,
        exited.then(() => Promise.reject(new Error('the Echo prober exited without a report'))),
      ]);
      await exited;
      return result;
    },
  };
}
