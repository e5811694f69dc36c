import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import type { DescService } from '@bufbuild/protobuf';
import { asPeer } from './callers.js';

/**
 * A client of `service` on a service process's grpc port (`host:port`), calling as the mesh peer
 * `peer` (the `x-wxmesh-peer` name local runs know peers by): how a test plays another service.
 */
export function peerClient<S extends DescService>(service: S, grpcAddress: string, peer: string): Client<S> {
  return createClient(
    service,
    createGrpcTransport({ baseUrl: `http://${grpcAddress}`, interceptors: [asPeer(peer)] }),
  );
}
