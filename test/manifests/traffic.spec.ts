import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadOverlay, rel, type Loaded } from './manifest-tree.js';

// VirtualService timeouts and retries: every unary route is bounded, only streams are not, and a
// sidecar retries a request that reached a pod only on routes of reads that change nothing and
// whose caller (the cloud gateway) does not retry itself.

interface Route {
  name?: string;
  match?: Array<{ uri?: { exact?: string; prefix?: string } }>;
  timeout?: string;
  retries?: { attempts?: number; perTryTimeout?: string; retryOn?: string };
}

/** Long-lived server streams: no timeout may be set on their routes. */
const STREAMS = ['/wxmesh.session.v1.SessionService/Attach'];
/** Edge RPCs that only read: a resend after a failure that reached the pod changes nothing. */
const READS = new Set([
  '/wxmesh.auth.v1.AuthVerifyService/VerifySession',
  '/wxmesh.auth.v1.AuthVerifyService/DecryptUserData',
  '/wxmesh.session.v1.SessionService/ListSessions',
  '/wxmesh.payment.v1.PaymentService/GetPayment',
  '/wxmesh.behaviour.v1.BehaviourViewService/GetUserJourney',
]);
/** Failures where the request never reached a pod: safe to retry for any method. */
const NEVER_REACHED = new Set(['connect-failure', 'refused-stream']);

const routes = (vs: Loaded) =>
  ((vs.doc.spec as { http?: Route[] }).http ?? []).map((route) => ({ vs, route }));
const virtualServices = loadOverlay('production').resources.filter((r) => r.doc.kind === 'VirtualService');
const paths = (route: Route) => (route.match ?? []).map((m) => m.uri?.exact ?? m.uri?.prefix ?? '');
const seconds = (duration: string) => Number(/^(\d+(?:\.\d+)?)s$/.exec(duration)?.[1] ?? NaN);

describe('VirtualService timeouts and retries', () => {
  test('every VirtualService of a domain service exists', () => {
    const hosts = virtualServices.flatMap((vs) => (vs.doc.spec as { hosts: string[] }).hosts);
    for (const name of [
      'auth-verify',
      'session',
      'message-router',
      'payment-callback',
      'behaviour-projector',
    ]) {
      assert.ok(
        hosts.includes(`${name}.wxmesh.svc.cluster.local`),
        `no east-west VirtualService for ${name}`,
      );
    }
  });

  test('every route but a stream has a timeout of at most 15 s; streams have none', () => {
    for (const { vs, route } of virtualServices.flatMap(routes)) {
      const where = `${rel(vs.file)} route ${route.name}`;
      const stream = paths(route).some((p) => STREAMS.includes(p));
      if (stream) {
        assert.equal(route.timeout, undefined, `${where}: a stream route must not time out`);
        assert.ok(
          paths(route).every((p) => STREAMS.includes(p)),
          `${where}: mixes a stream with unary RPCs`,
        );
        continue;
      }
      assert.ok(route.timeout, `${where}: no timeout`);
      const timeout = seconds(route.timeout);
      assert.ok(timeout > 0 && timeout <= 15, `${where}: timeout ${route.timeout}`);
    }
  });

  test('a request that reached a pod is retried only on read routes, within their timeout', () => {
    for (const { vs, route } of virtualServices.flatMap(routes)) {
      const where = `${rel(vs.file)} route ${route.name}`;
      assert.ok(route.retries, `${where}: no retry policy (Istio's default would retry UNAVAILABLE)`);
      const retryOn = (route.retries.retryOn ?? '').split(',').filter(Boolean);
      assert.ok(retryOn.length > 0, `${where}: retryOn must be explicit`);
      const beyond = retryOn.filter((c) => !NEVER_REACHED.has(c));
      if (beyond.length === 0) continue;
      const matched = paths(route);
      assert.ok(
        matched.length > 0 && matched.every((p) => READS.has(p)),
        `${where}: retries on ${beyond.join(',')} but routes ${matched.join(', ') || 'every method'}`,
      );
      const perTry = seconds(route.retries.perTryTimeout ?? '');
      const attempts = route.retries.attempts ?? 0;
      assert.ok(
        perTry * (attempts + 1) <= seconds(route.timeout ?? ''),
        `${where}: retries outlast the timeout`,
      );
    }
  });
});
