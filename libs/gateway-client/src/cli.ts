import { parseArgs } from 'node:util';
import { fromJsonString, toJsonString, type Message } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { createGatewayClient, newTraceId, type Caller, type GatewayCallOptions } from './client.js';
import { DEMO_APPID, localMesh, singleEndpoint } from './local-mesh.js';
import { defaultCaller, resolveMethod } from './resolve.js';

export const USAGE = `usage: npm run gw -- <Service>/<Method> ['<request json>'] [options]

Calls wxmesh as the WeChat cloud gateway does (Connect JSON over HTTP/1.1, the user in X-WX-*
headers) for PUBLIC and EDGE RPCs, and as the declared mesh peer on the grpc port for INTERNAL
and OPERATOR ones. Prints the answer as JSON (one line per message of a stream) and, on stderr,
the caller and the trace id (look it up with npm run trace -- <id>).

options:
  --openid <id>      the mini-program user (X-WX-OPENID)
  --appid <appid>    their mini-program (X-WX-APPID; default ${DEMO_APPID} with --openid)
  --unionid <id>     X-WX-UNIONID
  --token <token>    a session token from Login, sent as Authorization: Bearer
  --peer <name>      call as this mesh peer on the grpc port (business-backend, operator, ...)
  --url <url>        one base URL for every service (an ingress); default: npm start's ports
  --grpc-url <url>   the grpc side when --url is given (default: the same URL)
  --trace-id <hex>   join this trace (32 hex) instead of starting one
  --max <n>          stop a stream after n messages (default: until it ends or Ctrl-C)

examples:
  npm run gw -- EchoService/Echo '{"message":"hi"}' --openid o_me
  npm run gw -- BehaviourViewService/GetUserJourney '{}' --openid o_demo_user
  npm run gw -- BehaviourViewService/GetFunnel \\
    '{"appid":"${DEMO_APPID}","startDate":"YYYY-MM-DD","endDate":"YYYY-MM-DD"}'`;

/** A parsed command line. */
export interface GwCommand {
  readonly method: string;
  readonly body: string;
  readonly options: GatewayCallOptions;
  readonly url?: string;
  readonly grpcUrl?: string;
  readonly max?: number;
}

/** Parses `argv` (without node and the script); throws a usage error naming what is wrong. */
export function parseGwArgs(argv: readonly string[]): GwCommand {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      openid: { type: 'string' },
      appid: { type: 'string' },
      unionid: { type: 'string' },
      token: { type: 'string' },
      peer: { type: 'string' },
      url: { type: 'string' },
      'grpc-url': { type: 'string' },
      'trace-id': { type: 'string' },
      max: { type: 'string' },
    },
  });
  const [method, body = '{}', extra] = positionals;
  if (method === undefined || extra !== undefined) throw new Error(USAGE);
  const traceId = values['trace-id'];
  if (traceId !== undefined && !/^(?!0{32})[0-9a-f]{32}$/.test(traceId)) {
    throw new Error('--trace-id: expected 32 lowercase hex digits, not all zero');
  }
  const max = values.max === undefined ? undefined : Number(values.max);
  if (max !== undefined && !(Number.isSafeInteger(max) && max > 0))
    throw new Error('--max: a positive integer');
  const user =
    values.openid === undefined
      ? undefined
      : { openid: values.openid, appid: values.appid ?? DEMO_APPID, unionid: values.unionid };
  return {
    method,
    body,
    url: values.url,
    grpcUrl: values['grpc-url'],
    max,
    options: {
      user,
      sessionToken: values.token,
      traceId,
      as: values.peer === undefined ? undefined : { peer: values.peer },
    },
  };
}

function describeCaller(caller: Caller, options: GatewayCallOptions): string {
  const who = options.user?.openid ?? (options.sessionToken ? 'the session token' : 'no user');
  return caller === 'gateway' ? `the cloud gateway for ${who}` : `mesh peer ${caller.peer} for ${who}`;
}

/**
 * Runs one command: resolves the method, decodes the request JSON against its input type (an
 * unknown field or a wrong type is an error here, before any call), calls, and writes each answer
 * with `print`. Resolves with the trace id; rejects with a ConnectError from the service.
 */
export async function runGw(
  command: GwCommand,
  io: { print: (line: string) => void; note: (line: string) => void; signal?: AbortSignal },
): Promise<string> {
  const { service, method } = resolveMethod(command.method);
  let request: Message;
  try {
    request = fromJsonString(method.input, command.body);
  } catch (err) {
    throw new Error(`request is not a valid ${method.input.typeName}: ${(err as Error).message}`);
  }
  const as = command.options.as ?? defaultCaller(method);
  const endpoints =
    command.url === undefined ? localMesh() : singleEndpoint(command.url, command.grpcUrl ?? command.url);
  const traceId = command.options.traceId ?? newTraceId();
  const { client } = createGatewayClient(endpoints).client(service, { ...command.options, as, traceId });
  io.note(`${service.name}/${method.name} as ${describeCaller(as, command.options)}, trace ${traceId}`);
  const call = (client as unknown as Record<string, (req: Message, o: object) => unknown>)[method.localName]!;
  const show = (answer: Message) => io.print(toJsonString(method.output, answer as never));
  if (method.methodKind === 'unary') {
    show((await call(request, { signal: io.signal })) as Message);
  } else if (method.methodKind === 'server_streaming') {
    await printStream(call(request, { signal: io.signal }) as AsyncIterable<Message>, show, command.max);
  } else {
    throw new Error(
      `${method.name} is a ${method.methodKind} method; gw calls unary and server-streaming ones`,
    );
  }
  return traceId;
}

async function printStream(stream: AsyncIterable<Message>, show: (m: Message) => void, max?: number) {
  let count = 0;
  for await (const message of stream) {
    show(message);
    if (max !== undefined && ++count >= max) return;
  }
}

/** The CLI: exit 0 with the answer, 1 with `<code>: <message>` (or a usage error) on stderr. */
export async function main(argv: readonly string[]): Promise<number> {
  const interrupted = new AbortController();
  process.once('SIGINT', () => interrupted.abort());
  try {
    const command = parseGwArgs(argv);
    await runGw(command, {
      print: (line) => process.stdout.write(`${line}\n`),
      note: (line) => process.stderr.write(`${line}\n`),
      signal: interrupted.signal,
    });
    return 0;
  } catch (err) {
    if (interrupted.signal.aborted) return 0; // Ctrl-C ends a stream: not an error
    const message =
      err instanceof ConnectError ? `${Code[err.code]}: ${err.rawMessage}` : (err as Error).message;
    process.stderr.write(`${message}\n`);
    return 1;
  }
}
