import type * as grpc from '@grpc/grpc-js';
import { installClientFaultStatuses } from './grpc-client-faults.js';
import type { ServerLimits } from './limits.js';

/**
 * How often the server pings a connection to find a peer that vanished without closing it (a
 * crashed pod, a dropped NAT entry), and how long it waits for the answer before closing it. grpc-js'
 * defaults never ping, so a dead client's connection and its streams (health Watch, Attach) stay
 * open until the kernel gives up, hours later.
 */
const KEEPALIVE_TIME_MS = 2 * 60_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;

/**
 * The grpc-js server options that enforce the kit's limits on the grpc port; building them also
 * installs the rewrite of grpc-js' own client-fault statuses to InvalidArgument
 * (see grpc-client-faults.ts), so every server the kit builds answers bad input as the client's fault.
 *
 * - `maxRequestBytes` is `grpc.max_receive_message_length`. grpc-js checks it twice: against a
 *   message's declared length before buffering it (RESOURCE_EXHAUSTED "Received message larger than
 *   max"), and while inflating a compressed one, stopping the inflater as soon as the output passes
 *   it (RESOURCE_EXHAUSTED "...decompresses to a size larger than..."), so a small gzip bomb costs
 *   at most the limit plus one inflate chunk.
 * - `maxConcurrentStreams` is the HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS the server announces; a
 *   client opening more gets its extra streams refused. What one connection can make the server
 *   buffer is about `maxConcurrentStreams × maxRequestBytes` (partial messages are held per stream),
 *   so lower either for small pods.
 * - `maxConnections` has no grpc-js option (it owns its listening sockets and exposes no cap);
 *   on the grpc port it is the sidecar's (Envoy's) job.
 * - `grpc-node.max_session_memory` is left at grpc-js' default (no cap): Node's limit refuses new
 *   streams with ENHANCE_YOUR_CALM once a session's queued bytes pass it, which grpc-js' authors found
 *   to degrade badly, and the per-message and per-connection stream limits above already bound it.
 * - Ping and SETTINGS floods need no option: nghttp2, under Node's http2, closes a connection that
 *   makes it queue too many acknowledgements (its flood protection, on by default).
 */
export function grpcServerOptions(limits: ServerLimits): grpc.ServerOptions {
  installClientFaultStatuses();
  return {
    'grpc.max_receive_message_length': limits.maxRequestBytes,
    'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
    'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
  };
}
