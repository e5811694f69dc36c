// The send queue under load and failure, end to end: 10,000 jobs for 1,000 users while the
// sandbox injects WeChat's errors per user, a dead access_token mid-run, a router replica killed
// mid-run, and a rate limit set below the sandbox's. Every assertion is about where each job
// ended and what WeChat (the sandbox) really received.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { waitFor, type ServiceProcess } from '@wxmesh/testing';
import { createDeliveryStore, type DeliveryStore } from '../src/adapters/delivery-store.js';
import type { Delivery } from '../src/domain/delivery.js';
import {
  APPID,
  TEMPLATE,
  sandboxCall,
  sentMessages,
  startRouterWorld,
  subscribe,
  type RouterWorld,
} from './mesh.js';

const RUN = randomBytes(3).toString('hex');
const MAX_ATTEMPTS = 4;
/** Retries in milliseconds instead of minutes, so the run ends; the state machine is the same. */
const FAST = {
  SEND_BACKOFF_BASE: '50ms',
  SEND_BACKOFF_MAX: '400ms',
  SEND_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
  SEND_QUOTA_DELAY: '300ms',
  SEND_FREQUENCY_DELAY: '100ms',
  WECHAT_TIMEOUT: '5s',
  WECHAT_BREAKER_RESET: '500ms',
  QUEUE_CLAIM_IDLE: '12s',
  SEND_RATE_PER_SECOND: '100000',
  SEND_RATE_BURST: '100000',
  // A fifth of the users' sends fail for good here, which on a real WeChat would mean the send
  // API is down: the breaker would open and pause everyone. This test is about per-job outcomes.
  WECHAT_BREAKER_THRESHOLD: '95',
};
/** Generous: 10,000 jobs and five processes on two busy cores. */
const DRAIN_DEADLINE_MS = 8 * 60_000;

let world: RouterWorld;
let redis: Redis;
let store: DeliveryStore;
const routers: ServiceProcess[] = [];

before(async () => {
  world = await startRouterWorld({ redisDb: 4 });
  redis = new Redis(world.redisUrl);
  store = createDeliveryStore(redis, { maxDepth: Number.MAX_SAFE_INTEGER, retentionMs: 0 });
});

after(async () => {
  redis?.disconnect();
  await world?.stop();
});

async function stopRouters(): Promise<void> {
  for (const r of routers.splice(0)) {
    if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
    await r.exited;
  }
}

async function startRouters(n: number, env: Record<string, string>): Promise<ServiceProcess[]> {
  const started = await Promise.all(Array.from({ length: n }, () => world.startRouter(env)));
  routers.push(...started);
  return started;
}

/** Sends `jobs` messages to each user (message ids `<tag>-<k>`), 1,000 recipients per call. */
async function sendAll(
  router: ServiceProcess,
  tag: string,
  users: readonly string[],
  jobs: number,
): Promise<string[]> {
  const ids: string[] = [];
  for (let k = 0; k < jobs; k++) {
    const messageId = `${tag}-${k}`;
    for (let i = 0; i < users.length; i += 1000) {
      const batch = users.slice(i, i + 1000);
      const { results } = await world.client(router).sendSubscribeMessages({
        appid: APPID,
        messageId,
        messages: batch.map((openid) => ({
          openid,
          content: { templateId: TEMPLATE, data: { thing1: messageId, amount2: '1元' } },
        })),
      });
      ids.push(...results.map((r) => r.deliveryId));
    }
  }
  return ids;
}

/** Waits until none of `ids` is still on its way, and returns them all. */
async function drained(ids: readonly string[]): Promise<Map<string, Delivery>> {
  const done = new Map<string, Delivery>();
  await waitFor(
    async () => {
      const open = ids.filter((id) => !done.has(id));
      const found = await Promise.all(open.map((id) => store.get(id)));
      for (const d of found)
        if (d && ['DELIVERED', 'FAILED', 'DEAD_LETTERED'].includes(d.state)) done.set(d.deliveryId, d);
      return done.size === ids.length;
    },
    {
      timeoutMs: DRAIN_DEADLINE_MS,
      intervalMs: 1_000,
      message: `every job reaching a terminal state (${ids.length})`,
    },
  );
  return done;
}

async function stats() {
  return (await sandboxCall(world, `/sandbox/mp/subscribe-stats?appid=${APPID}`)) as {
    sent: number;
    byErrcode: Record<string, number>;
    rateLimited: number;
    perUser: Record<string, { sent: number; refused: number }>;
  };
}

/** Sent messages per (user, message id) of the message ids starting with `tag`. */
async function sendsPerMessage(tag: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const m of await sentMessages(world)) {
    if (!m.data.thing1?.value.startsWith(tag)) continue;
    const key = `${m.touser}|${m.data.thing1?.value}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

type Kind = 'ok' | 'no-grant' | 'quota' | 'http5xx' | 'timeout' | 'dead';
/** The users of each kind, and what the sandbox does to their sends. */
const KINDS: Array<{ kind: Kind; share: number; faults?: unknown[]; repeat?: boolean }> = [
  { kind: 'ok', share: 4 },
  { kind: 'no-grant', share: 1 },
  { kind: 'quota', share: 1, faults: [{ errcode: 45009 }, { errcode: 45011 }, { errcode: 45009 }] },
  { kind: 'http5xx', share: 1, faults: [{ status: 502 }, { status: 503 }] },
  { kind: 'timeout', share: 1, faults: [{ hang: true }] },
  { kind: 'dead', share: 2, faults: [{ status: 500 }], repeat: true },
];

test('10,000 jobs for 1,000 users under injected 40001, 45009, 43101, 5xx and timeouts: each ends in the one terminal state its error calls for', async () => {
  const users: Array<{ openid: string; kind: Kind }> = [];
  for (let i = 0; i < 1000; i++) {
    const slot = i % 10;
    let acc = 0;
    const spec = KINDS.find((k) => slot < (acc += k.share))!;
    users.push({ openid: `o_${RUN}_${i}`, kind: spec.kind });
  }
  await Promise.all(
    users.map(async ({ openid, kind }) => {
      // no-grant users are known to the app but said no: WeChat answers 43101.
      await sandboxCall(world, '/sandbox/mp/subscriptions', {
        appid: APPID,
        openid,
        template_id: TEMPLATE,
        kind: 'long-term',
        ...(kind === 'no-grant' ? { status: 'reject' } : {}),
      });
      const spec = KINDS.find((k) => k.kind === kind)!;
      if (spec.faults)
        await sandboxCall(world, '/sandbox/mp/subscribe-send/faults', {
          appid: APPID,
          openid,
          faults: spec.faults,
          repeat: spec.repeat ?? false,
        });
    }),
  );
  const [a] = await startRouters(2, FAST);
  const ids = await sendAll(
    a!,
    `L${RUN}`,
    users.map((u) => u.openid),
    10,
  );
  assert.equal(ids.length, 10_000);

  // A dead access_token mid-run: every send with it now answers 40001.
  await waitFor(async () => (await stats()).sent >= 1_000, {
    timeoutMs: DRAIN_DEADLINE_MS,
    message: '1,000 sends before the token dies',
  });
  const countersBefore = (await sandboxCall(world, '/sandbox/mp/counters')) as Record<
    string,
    { stableTokensIssued: number }
  >;
  await sandboxCall(world, '/sandbox/mp/tokens/revoke', { appid: APPID });

  const final = await drained(ids);
  const kindOf = new Map(users.map((u) => [u.openid, u.kind]));
  const byKind = new Map<Kind, Delivery[]>();
  for (const d of final.values())
    byKind.set(kindOf.get(d.openid)!, [...(byKind.get(kindOf.get(d.openid)!) ?? []), d]);
  const states = (kind: Kind) => new Set(byKind.get(kind)!.map((d) => d.state));

  for (const kind of ['ok', 'quota', 'http5xx', 'timeout'] as const)
    assert.deepEqual(states(kind), new Set(['DELIVERED']), kind);
  assert.deepEqual(states('no-grant'), new Set(['FAILED']));
  assert.deepEqual(states('dead'), new Set(['DEAD_LETTERED']));
  for (const d of byKind.get('no-grant')!) {
    // Only the last attempt met 43101 (an earlier one can only have been a transient failure).
    assert.deepEqual(
      d.history.filter((s) => s.error?.errcode === 43101).map((s) => s.state),
      ['FAILED'],
    );
    assert.equal(d.lastError?.errcode, 43101);
  }
  for (const d of byKind.get('dead')!) assert.equal(d.attempts, MAX_ATTEMPTS);
  assert.ok(
    byKind.get('quota')!.some((d) => d.history.some((s) => s.error?.errcode === 45009)),
    'the quota errors were met',
  );
  assert.ok(
    byKind.get('timeout')!.some((d) => d.history.some((s) => /did not answer/.test(s.error?.message ?? ''))),
    'the timeouts were met',
  );
  // Every history ends in its state and only there.
  for (const d of final.values()) {
    const terminal = d.history.filter((s) => ['DELIVERED', 'FAILED', 'DEAD_LETTERED'].includes(s.state));
    assert.deepEqual(
      terminal.map((s) => s.state),
      [d.state],
      d.deliveryId,
    );
  }

  const sandbox = await stats();
  for (const u of users) {
    const seen = sandbox.perUser[u.openid] ?? { sent: 0, refused: 0 };
    if (u.kind === 'no-grant')
      assert.deepEqual(seen, { sent: 0, refused: 10 }, `${u.openid}: each 43101 job called WeChat once`);
    else if (u.kind === 'dead') assert.equal(seen.sent, 0);
    else assert.equal(seen.sent, 10, `${u.openid} (${u.kind}) got each of its 10 messages`);
  }
  // A timed-out attempt may have reached WeChat (it answered too late), and the retry is then a
  // second copy: that is the one way to a duplicate, and a real one. Anything else is a defect.
  const timedOut = new Set(
    [...final.values()]
      .filter((d) => d.history.some((s) => /did not answer/.test(s.error?.message ?? '')))
      .map((d) => `${d.openid}|${d.messageId}`),
  );
  for (const [key, n] of await sendsPerMessage(`L${RUN}`))
    if (!timedOut.has(key)) assert.equal(n, 1, `${key} delivered ${n} times`);
  const countersAfter = (await sandboxCall(world, '/sandbox/mp/counters')) as Record<
    string,
    { stableTokensIssued: number }
  >;
  assert.equal(
    countersAfter[APPID]!.stableTokensIssued - countersBefore[APPID]!.stableTokensIssued,
    1,
    'one dead token, one refresh',
  );
  assert.ok((sandbox.byErrcode['40001'] ?? 0) > 0, 'sends did meet the dead token');
  await stopRouters();
});

test('a router replica SIGKILLed mid-run: its pending jobs are reclaimed and finished, none delivered twice', async () => {
  const users = Array.from({ length: 300 }, (_, i) => `o_${RUN}_k${i}`);
  await Promise.all(users.map((openid) => subscribe(world, openid)));
  // A rate limit makes the run last long enough to kill a replica in the middle of it.
  const [victim, survivor] = await startRouters(2, {
    ...FAST,
    SEND_RATE_PER_SECOND: '400',
    SEND_RATE_BURST: '20',
  });
  const before = (await stats()).sent;
  const ids = await sendAll(survivor!, `K${RUN}`, users, 10);
  await waitFor(async () => (await stats()).sent - before >= 600, {
    timeoutMs: DRAIN_DEADLINE_MS,
    message: '600 sends before the kill',
  });
  victim!.child.kill('SIGKILL');
  await victim!.exited;
  const final = await drained(ids);
  const states = [...final.values()].map((d) => d.state);
  const delivered = states.filter((s) => s === 'DELIVERED').length;
  const ambiguous = [...final.values()].filter((d) => d.state === 'DEAD_LETTERED');
  // Only jobs the victim had in flight at WeChat can be ambiguous; they are parked, not resent.
  assert.ok(
    ambiguous.length <= 32,
    `${ambiguous.length} ambiguous: ${JSON.stringify(ambiguous.slice(0, 3).map((d) => d.history))}`,
  );
  for (const d of ambiguous) assert.match(d.lastError?.message ?? '', /worker died during the send/);
  assert.equal(delivered + ambiguous.length, ids.length);
  const perMessage = await sendsPerMessage(`K${RUN}`);
  for (const [key, n] of perMessage) assert.equal(n, 1, `${key} delivered ${n} times`);
  const reached = users.reduce(
    (sum, openid) =>
      sum + [...Array(10).keys()].filter((k) => perMessage.has(`${openid}|K${RUN}-${k}`)).length,
    0,
  );
  assert.ok(reached >= delivered && reached <= delivered + ambiguous.length);
  assert.equal((await store.depth(Date.now())).queued, 0, 'no job is left in the streams');
  await stopRouters();
});

test('with the rate limit below the sandbox’s, a burst drains at the configured rate and no send meets 45009', async () => {
  // The sandbox tolerates a second's worth of burst; the router's own bucket (150/s, burst 10) is
  // the tighter one, so a 45009 here means the router's limit leaked.
  await sandboxCall(world, '/sandbox/mp/rate-limits', {
    appid: APPID,
    api: '/cgi-bin/message/subscribe/send',
    perSecond: 200,
    burst: 200,
  });
  try {
    const users = Array.from({ length: 1500 }, (_, i) => `o_${RUN}_q${i}`);
    await Promise.all(users.map((openid) => subscribe(world, openid)));
    const [a] = await startRouters(2, { ...FAST, SEND_RATE_PER_SECOND: '150', SEND_RATE_BURST: '10' });
    const before = await stats();
    const started = Date.now();
    const ids = await sendAll(a!, `Q${RUN}`, users, 1);
    const final = await drained(ids);
    const seconds = (Date.now() - started) / 1000;
    assert.deepEqual(new Set([...final.values()].map((d) => d.state)), new Set(['DELIVERED']));
    for (const d of final.values())
      assert.equal(d.attempts, 1, `${d.deliveryId} was retried: ${JSON.stringify(d.history)}`);
    const after = await stats();
    assert.equal(
      after.rateLimited - before.rateLimited,
      0,
      'no send was refused by the sandbox’s rate limit',
    );
    assert.equal(after.byErrcode['45009'] ?? 0, before.byErrcode['45009'] ?? 0);
    // 1,500 sends at 150/s after a burst of 10 take about ten seconds; faster means the limit leaked.
    assert.ok(seconds >= (1500 - 10) / 150 - 1, `drained in ${seconds.toFixed(1)} s`);
  } finally {
    await sandboxCall(world, '/sandbox/mp/rate-limits', {
      appid: APPID,
      api: '/cgi-bin/message/subscribe/send',
      perSecond: null,
    });
    await stopRouters();
  }
});
