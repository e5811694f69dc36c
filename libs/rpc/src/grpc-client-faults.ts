import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';

// Client faults that grpc-js answers on its own, before any handler runs, with a status that blames
// the server (INTERNAL) or the method (UNIMPLEMENTED). gRPC's statuscodes.md does list some of these
// as INTERNAL (a decompression failure, an undecodable message), but this project's rule is that
// Internal means *our* fault, so alerts on Internal fire only for defects, never for a bad client:
// each is answered INVALID_ARGUMENT with a message saying what was wrong.
//
// Why a patch and not a public hook: grpc-js sends the first three from inside
// `BaseServerInterceptingCall` (the call object under every server interceptor), so neither a
// `ServerInterceptor` nor a handler ever sees them. The last two come from grpc-js' own
// unary/server-stream handling and would be reachable by a `ServerInterceptor`, but that would wrap
// every call on the hot path grpc-js was chosen for, while the one patch sees them anyway.
//
// The patch wraps `BaseServerInterceptingCall.prototype.sendStatus` and rewrites ONLY a status whose
// code and wording match one of the entries below exactly; everything else passes untouched. When a
// grpc-js upgrade changes a wording, the rewrite stops matching and the grpc port's bad-input tests
// (libs/rpc/src/grpc-client-faults.spec.ts, test/hardening/bad-input-grpc.spec.ts) fail.
//
// The same wrapper also notes which calls ended with DEADLINE_EXCEEDED (see endedAtDeadline): grpc-js'
// own deadline timer ends a call and then tells the handler only that it was "cancelled", exactly as
// when the client goes away, so without the note a handler failing because of it looked like Internal.

/** What is known of the call whose status is rewritten. */
export interface FaultyCall {
  /** The method's path, e.g. `/wxmesh.session.v1.SessionService/GetSession`. */
  readonly path: string;
  /** The `grpc-encoding` the call declared (`identity` when none). */
  readonly encoding: string;
}

interface ClientFault {
  /** The status grpc-js sends. */
  readonly code: grpc.status;
  readonly details: RegExp;
  /** What the caller is told instead, from the matched details and the call. */
  readonly rewrite: (match: RegExpMatchArray, call: FaultyCall) => string;
}

const ONE_MESSAGE = 'takes exactly one request message';

const CLIENT_FAULTS: readonly ClientFault[] = [
  {
    code: grpc.status.INTERNAL,
    details: /^Invalid grpc-timeout value "(.*)"$/s,
    rewrite: (m) =>
      `grpc-timeout ${JSON.stringify(m[1])} is not a valid timeout: send 1 to 8 digits and a unit ` +
      `(H, M, S, m, u or n), e.g. "500m"`,
  },
  {
    code: grpc.status.INTERNAL,
    details: /^Failed to decompress message$/,
    rewrite: (_m, call) =>
      `the request message could not be decompressed: its bytes are not valid ${call.encoding} data ` +
      '(the grpc-encoding the call declared)',
  },
  {
    // Our own services never get here (their deserializer does not throw, see grpc-transport.ts);
    // grpc.health.v1 and reflection, served with proto-loader's codecs, do.
    code: grpc.status.INTERNAL,
    details: /^Error deserializing request(: .*)?$/s,
    rewrite: (_m, call) => `request is not a valid protobuf message for ${call.path}`,
  },
  {
    code: grpc.status.UNIMPLEMENTED,
    details: /^Received a second request message for server streaming method (.*)$/s,
    rewrite: (_m, call) => `${call.path} ${ONE_MESSAGE}; the call sent more than one`,
  },
  {
    code: grpc.status.UNIMPLEMENTED,
    details: /^Received no request message for server streaming method (.*)$/s,
    rewrite: (_m, call) =>
      `${call.path} ${ONE_MESSAGE}; the call ended without a complete one (empty or truncated body)`,
  },
];

/**
 * The status a client should get for `status`: INVALID_ARGUMENT with a precise message when it is
 * one of grpc-js' known client-fault statuses, otherwise `status` itself (the same object).
 */
export function clientFaultStatus<S extends { code: grpc.status; details?: string }>(
  status: S,
  call: FaultyCall,
): S {
  for (const fault of CLIENT_FAULTS) {
    if (status.code !== fault.code) continue;
    const match = fault.details.exec(status.details ?? '');
    if (match) return { ...status, code: grpc.status.INVALID_ARGUMENT, details: fault.rewrite(match, call) };
  }
  return status;
}

const ENDED_AT_DEADLINE = Symbol.for('wxmesh.rpc.ended-at-deadline');

interface BaseCall {
  readonly handler?: { readonly path?: string } | null;
  readonly incomingEncoding?: string;
  [ENDED_AT_DEADLINE]?: true;
  sendStatus(status: grpc.StatusObject): void;
}

/**
 * True once `call` (a handler's ServerUnaryCall or ServerWritableStream) was ended with
 * DEADLINE_EXCEEDED, typically by grpc-js' own deadline timer before the handler answered. grpc-js
 * reports that to the handler as a plain 'cancelled' event, like a client that went away; this tells
 * the two apart, so the handler's signal can carry DeadlineExceeded. It reads the grpc-js call object
 * under the handler's call (its `call` field: the BaseServerInterceptingCall, as the kit's servers have
 * no server interceptors); grpc-client-faults.spec.ts fails if that stops holding.
 */
export function endedAtDeadline(call: object): boolean {
  return (call as { call?: BaseCall }).call?.[ENDED_AT_DEADLINE] === true;
}

const INSTALLED = Symbol.for('wxmesh.rpc.grpc-client-faults');

/**
 * Installs the rewrite and the deadline note (once per process; every later call is a no-op).
 * Called where the kit builds its grpc-js server options, so any process serving the grpc port has
 * it. Throws at start-up, not per call, when grpc-js no longer has the call class this relies on.
 */
export function installClientFaultStatuses(): void {
  // The same module instance grpc-js' server uses: grpc-js has no "exports" map, and there is one copy.
  const require = createRequire(import.meta.url);
  const internals = require('@grpc/grpc-js/build/src/server-interceptors.js') as {
    BaseServerInterceptingCall?: { prototype: BaseCall & { [INSTALLED]?: true } };
  };
  const proto = internals.BaseServerInterceptingCall?.prototype;
  if (proto === undefined || typeof proto.sendStatus !== 'function') {
    throw new Error(
      '@grpc/grpc-js no longer has BaseServerInterceptingCall.prototype.sendStatus: ' +
        'update libs/rpc/src/grpc-client-faults.ts for this grpc-js version',
    );
  }
  if (proto[INSTALLED]) return;
  const sendStatus = proto.sendStatus;
  proto.sendStatus = function (this: BaseCall, status: grpc.StatusObject) {
    if (status.code === grpc.status.DEADLINE_EXCEEDED) this[ENDED_AT_DEADLINE] = true;
    const call = { path: this.handler?.path ?? 'this method', encoding: this.incomingEncoding ?? 'identity' };
    sendStatus.call(this, clientFaultStatus(status, call));
  };
  proto[INSTALLED] = true;
}
