// Attribute keys, spelled out once and reused on every call.
//
// The rpc.* keys are the experimental RPC conventions as of semconv v1.37 (what the brief,
// @opentelemetry/instrumentation-grpc and Jaeger's views use). The semantic-conventions JS
// README asks users of unstable keys to copy them rather than import the `/incubating` entry,
// whose exports may change in a minor release. The stable keys are spelled out as well:
// importing `@opentelemetry/semantic-conventions` from ESM loads its .mjs build next to the
// .cjs build @opentelemetry/core already required (measured: +10-19 ms start-up), and stable
// names never change.

export const ATTR_RPC_SYSTEM = 'rpc.system';
export const ATTR_RPC_SERVICE = 'rpc.service';
export const ATTR_RPC_METHOD = 'rpc.method';
export const ATTR_RPC_GRPC_STATUS_CODE = 'rpc.grpc.status_code';
export const ATTR_RPC_CONNECT_RPC_ERROR_CODE = 'rpc.connect_rpc.error_code';

export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
export const ATTR_NETWORK_PEER_ADDRESS = 'network.peer.address';
export const ATTR_NETWORK_PEER_PORT = 'network.peer.port';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_EXCEPTION_TYPE = 'exception.type';
export const ATTR_SERVICE_NAME = 'service.name';
export const ATTR_SERVICE_VERSION = 'service.version';
