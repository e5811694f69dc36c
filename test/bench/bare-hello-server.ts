// The start-up benchmark's baseline: the least a server answering EchoService over gRPC can be —
// @connectrpc/connect-node's adapter on a plain h2c server, one unary handler, no telemetry, no
// logger, no Redis or Kafka. test/bench/startup.ts spawns it exactly as a service is spawned (same
// node, same loader flags), so a service's ratio to it is what the service's own code costs.
// Listens on GRPC_PORT (0: the OS picks) and prints the services' `serving` log line with the port.
import { createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { EchoService } from '@wxmesh/contracts';

const server = createServer(
  connectNodeAdapter({
    routes: (router) => router.service(EchoService, { echo: (request) => ({ message: request.message }) }),
  }),
);
server.listen(Number(process.env.GRPC_PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  console.log(JSON.stringify({ msg: 'serving', grpcPort: port }));
});
// SIGTERM ends it at once: there is nothing to drain.
process.once('SIGTERM', () => process.exit(0));
