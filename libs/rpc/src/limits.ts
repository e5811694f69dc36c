/**
 * What one request may cost a server, the same on both ports. Every value bounds memory or time a
 * client can hold without the server's consent: an oversized, compressed or slow request is
 * refused with a precise status instead of being buffered.
 */
export interface ServerLimits {
  /**
   * Largest request message, in bytes, after decompression (gRPC: one message; Connect: the body).
   * A declared `Content-Length` above it is refused before a byte of the body is read.
   */
  readonly maxRequestBytes: number;
  /** Largest header block a request may send (the http port; grpc-js bounds its own). */
  readonly maxHeaderBytes: number;
  /** Time a client has to send a request's headers on the http port. */
  readonly headersTimeoutMs: number;
  /** Time a client has to send a whole request (headers and body) on the http port. */
  readonly requestTimeoutMs: number;
  /** Concurrent streams one HTTP/2 connection may open on the grpc port. */
  readonly maxConcurrentStreams: number;
  /** Open connections each port accepts; beyond it new connections are closed at once. */
  readonly maxConnections: number;
}

/** Safe defaults: grpc-js' own 4 MiB message limit, and timeouts a real client never hits. */
export const DEFAULT_LIMITS: ServerLimits = {
  maxRequestBytes: 4 * 1024 * 1024,
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxConcurrentStreams: 1_000,
  maxConnections: 10_000,
};
