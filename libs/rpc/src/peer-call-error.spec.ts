import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { Code, ConnectError } from '@connectrpc/connect';
import { EchoService } from '@wxmesh/contracts';
import { abortReason, isPeerFailure, peerCallError } from './peer-call-error.js';

const echo = EchoService.method.echo;

function grpcError(code: status, details: string): ServiceError {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: new Metadata() });
}

test('statuses grpc-js makes up get a fixed message naming the peer method, never its internal details', () => {
  const details = 'No connection established. Last error: connect ECONNREFUSED 10.0.3.7:50051';
  const cases: Array<[status, Code, string]> = [
    [status.DEADLINE_EXCEEDED, Code.DeadlineExceeded, 'deadline exceeded calling EchoService.Echo'],
    [status.UNAVAILABLE, Code.Unavailable, 'EchoService is unavailable; retry with backoff'],
    [status.CANCELLED, Code.Canceled, 'the call to EchoService.Echo was cancelled'],
    [status.INTERNAL, Code.Internal, 'EchoService.Echo failed; retry later'],
    [status.UNKNOWN, Code.Unknown, 'EchoService.Echo failed; retry later'],
  ];
  for (const [grpcCode, code, message] of cases) {
    const original = grpcError(grpcCode, details);
    const error = peerCallError(original, echo);
    assert.equal(error.code, code);
    assert.equal(error.rawMessage, message);
    assert.doesNotMatch(error.message, /10\.0\.3\.7/);
    assert.equal(error.cause, original, 'the original stays in cause for the local log');
  }
});

test("a status only the peer's handler can choose keeps its message, or names the method when it has none", () => {
  const invalid = peerCallError(grpcError(status.INVALID_ARGUMENT, 'text must not be empty'), echo);
  assert.equal(invalid.code, Code.InvalidArgument);
  assert.equal(invalid.rawMessage, 'text must not be empty');
  const bare = peerCallError(grpcError(status.NOT_FOUND, ''), echo);
  assert.equal(bare.code, Code.NotFound);
  assert.equal(bare.rawMessage, 'EchoService.Echo failed');
});

test('only errors that blame the peer count as its failures', () => {
  for (const code of [Code.Unavailable, Code.DeadlineExceeded, Code.Internal, Code.Unknown]) {
    assert.equal(isPeerFailure(new ConnectError('x', code)), true, Code[code]);
  }
  for (const code of [Code.InvalidArgument, Code.NotFound, Code.PermissionDenied, Code.Canceled]) {
    assert.equal(isPeerFailure(new ConnectError('x', code)), false, Code[code]);
  }
  assert.equal(isPeerFailure(new Error('socket hang up')), true, 'not a ConnectError');
});

test("a cancelled call fails with the signal's reason, not with grpc-js's own cancellation", () => {
  const deadline = new ConnectError('deadline exceeded', Code.DeadlineExceeded);
  assert.equal(abortReason(AbortSignal.abort(deadline)), deadline);
});
