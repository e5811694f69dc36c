// formatTraceTree on a response recorded from a real Jaeger v1.75.0 (`GET /api/traces/<id>` after
// four services exported spans over OTLP/HTTP with the OTel JS SDK): a login across auth-verify
// and session, its event through Kafka into behaviour-projector (a span with a link and an error
// status), and a message-router span whose parent was never exported.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { JaegerSpan, JaegerTrace } from './jaeger-trace.js';
import { formatTraceTree } from './jaeger-trace-tree.js';

function recordedTrace(): JaegerTrace {
  const body = JSON.parse(
    readFileSync(new URL('fixtures/jaeger-login-trace.json', import.meta.url), 'utf8'),
  ) as { data: JaegerTrace[] };
  return body.data[0]!;
}

const EXPECTED = [
  ' 0.00 ms  30.00 ms  auth-verify wxmesh.auth.v1.AuthVerifyService/Login',
  '                      wechat.appid=wx_fixture_app wechat.openid=o_fixture_user',
  ' 2.00 ms  12.50 ms    auth-verify GET /sns/jscode2session',
  '15.00 ms  13.00 ms    auth-verify wxmesh.session.v1.SessionService/CreateSession',
  '                        wechat.appid=wx_fixture_app wechat.openid=o_fixture_user',
  '16.00 ms  11.00 ms      session wxmesh.session.v1.SessionService/CreateSession',
  '                          wechat.appid=wx_fixture_app wechat.openid=o_fixture_user',
  '20.00 ms   6.00 ms        session send wxmesh.behaviour.v1',
  '                            wechat.appid=wx_fixture_app wechat.openid=o_fixture_user',
  '40.00 ms   3.00 ms          behaviour-projector process wxmesh.behaviour.v1',
  '                              wechat.appid=wx_fixture_app wechat.openid=o_fixture_user',
  '45.00 ms   2.25 ms            behaviour-projector fold journey view  ✗ error: redis: connection reset',
  '                                follows from session send wxmesh.behaviour.v1 (span 1ced0230ca121a3a)',
  '                                wechat.openid=o_fixture_user',
  '35.00 ms   3.00 ms  message-router wxmesh.router.v1.MessageRouterService/RouteMessage',
  '                      parent span deadbeefdeadbeef is not in this trace',
  '                      wechat.appid=wx_fixture_app wechat.openid=o_fixture_user',
];

test('formatTraceTree draws the recorded trace as a tree: parents, links, errors, lost parents, wechat.* attributes', () => {
  assert.deepEqual(formatTraceTree(recordedTrace()), EXPECTED);
});

test('formatTraceTree does not depend on the order Jaeger lists spans in, and leaves the trace as it was', () => {
  const trace = recordedTrace();
  const untouched = structuredClone(trace);
  const reversed = { ...trace, spans: [...trace.spans].reverse() };
  assert.deepEqual(formatTraceTree(reversed), EXPECTED);
  assert.deepEqual(trace, untouched);
});

test('formatTraceTree names a link into another trace by that trace id, so it can be looked up', () => {
  const trace = recordedTrace();
  const fold = trace.spans.find((span) => span.operationName === 'fold journey view')!;
  fold.references = fold.references.map((ref) =>
    ref.refType === 'FOLLOWS_FROM'
      ? { ...ref, traceID: 'aaaabbbbccccddddeeeeffff00001111', spanID: '0123456789abcdef' }
      : ref,
  );
  assert.ok(
    formatTraceTree(trace).includes(
      '                                follows from span 0123456789abcdef of trace aaaabbbbccccddddeeeeffff00001111',
    ),
  );
});

test('formatTraceTree shows every span once even when parents form a cycle (corrupt data)', () => {
  const span = (spanID: string, parent: string, startTime: number): JaegerSpan => ({
    traceID: 't',
    spanID,
    operationName: `op-${spanID}`,
    references: [{ refType: 'CHILD_OF', traceID: 't', spanID: parent }],
    startTime,
    duration: 1000,
    tags: [],
    processID: 'p1',
  });
  const trace: JaegerTrace = {
    traceID: 't',
    spans: [span('a', 'b', 0), span('b', 'a', 1000)],
    processes: { p1: { serviceName: 'svc', tags: [] } },
  };
  assert.deepEqual(formatTraceTree(trace), ['0.00 ms  1.00 ms  svc op-a', '1.00 ms  1.00 ms    svc op-b']);
});

test('formatTraceTree of a trace without spans is no lines', () => {
  assert.deepEqual(formatTraceTree({ traceID: 't', spans: [], processes: {} }), []);
});
