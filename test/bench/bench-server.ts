// A server process for the benchmarks, started by the bench driver with an IPC channel so it can report
// its own CPU time over IPC: `kit` is the wxmesh kit serving the echo service with tracing on
// (BatchSpanProcessor exporting OTLP to the driver's sink), `kit-notrace` the same with tracing a
// no-op (to show what tracing itself costs), `bare` is a plain grpc-js server with
// the same protobuf-es codec and nothing else, and `bare-als` is that server running each call in
// an AsyncLocalStorage context, as OpenTelemetry's context manager (and so the kit) must on
// Node 20: what carrying a context across awaits costs before any kit code runs.
import { AsyncLocalStorage } from 'node:async_hooks';
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type Message } from '@bufbuild/protobuf';
import { EchoRequestSchema, EchoResponseSchema, type EchoRequest } from '@wxmesh/contracts';
import { createLogger, echoService, RpcServer } from '@wxmesh/rpc';
import { initTelemetry, WECHAT_HEADERS } from '@wxmesh/telemetry';

const kind = process.argv[2];

async function startKit(tracing: boolean): Promise<number> {
  const telemetry = await initTelemetry({
    serviceName: 'bench-kit',
    otlpEndpoint: tracing ? process.env.BENCH_OTLP_ENDPOINT : undefined,
    spanProcessor: 'batch',
  });
  if (tracing && !telemetry.enabled) throw new Error('the kit bench needs tracing on (BENCH_OTLP_ENDPOINT)');
  const server = new RpcServer({
    name: 'bench-kit',
    services: [echoService],
    logger: createLogger({ name: 'bench-kit', level: 'info', destination: { write: () => {} } as never }),
    tracer: telemetry.tracer,
    callers: { behindGateway: true, peerIdentity: 'declared' },
  });
  return (await server.start()).grpcPort;
}

function startBare(als?: AsyncLocalStorage<Record<string, string>>): Promise<number> {
  const server = new grpc.Server();
  const codec = (schema: typeof EchoRequestSchema | typeof EchoResponseSchema) => ({
    serialize: (m: Message) => Buffer.from(toBinary(schema, m as never)),
    deserialize: (b: Buffer) => fromBinary(schema, b),
  });
  const req = codec(EchoRequestSchema);
  const res = codec(EchoResponseSchema);
  server.addService(
    {
      echo: {
        path: '/wxmesh.echo.v1.EchoService/Echo',
        requestStream: false,
        responseStream: false,
        requestSerialize: req.serialize,
        requestDeserialize: req.deserialize,
        responseSerialize: res.serialize,
        responseDeserialize: res.deserialize,
      },
    },
    {
      // The same answer the kit's echo gives: the message and the caller's WeChat identity.
      echo: (call: grpc.ServerUnaryCall<EchoRequest, Message>, callback: grpc.sendUnaryData<Message>) => {
        const wechat: Record<string, string> = {};
        for (const [field, { header }] of Object.entries(WECHAT_HEADERS)) {
          const value = call.metadata.get(header)[0];
          if (typeof value === 'string') wechat[field] = value;
        }
        const reply = () =>
          callback(null, create(EchoResponseSchema, { message: call.request.message, wechat }));
        // The kit's handlers are async: with a context, the reply comes after one await in it.
        if (als === undefined) reply();
        else als.run(wechat, () => void Promise.resolve().then(reply));
      },
    },
  );
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
}

const port =
  kind === 'bare'
    ? await startBare()
    : kind === 'bare-als'
      ? await startBare(new AsyncLocalStorage())
      : await startKit(kind === 'kit');
process.on('message', (message) => {
  if (message === 'cpu') process.send!({ cpu: process.cpuUsage() });
  if (message === 'exit') process.exit(0);
});
process.send!({ port });
