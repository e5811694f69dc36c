// Acceptance of the session service's live delivery across replicas: three real session
// processes on one Redis and Kafka, users attached across them, deliveries from any replica.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { DeliverStatus, PresenceStatus, RevokeReason, UserOfflineReason } from '@wxmesh/contracts';
import { loadScaledBound, startInfra, waitFor, type Infra } from '@wxmesh/testing';
import {
  APPID,
  attach,
  collectEvents,
  openidOf,
  RUN,
  serverEnding,
  startReplica,
  type Channel,
  type Replica,
} from './support.js';

// A short presence TTL, so a killed replica's users read offline quickly; stretched with the
// machine's load, or a replica starved of CPU past it (two burners beside three replicas) reads dead.
const TTL_MS = loadScaledBound(1500);
const FAST_PRESENCE = {
  PRESENCE_TTL: `${TTL_MS}ms`,
  PRESENCE_HEARTBEAT_INTERVAL: `${Math.floor(TTL_MS / 4)}ms`,
  SHUTDOWN_GRACE_MS: '3000',
};

let infra: Infra<{ redis: true; kafka: true }>;
let replicas: Replica[] = [];
let events: Awaited<ReturnType<typeof collectEvents>>;

before(async () => {
  infra = await startInfra({ redis: true, kafka: true });
  replicas = await Promise.all(
    ['a', 'b', 'c'].map((name) => startReplica(infra, `r-${RUN}-${name}`, FAST_PRESENCE)),
  );
  events = await collectEvents(infra.kafkaBrokers);
});

after(async () => {
  for (const r of replicas) if (r.process.child.exitCode === null) r.process.child.kill('SIGKILL');
  await events?.stop();
  await infra?.stop();
});

/** True once a UserOffline with `reason` for `openid` is on the topic. */
function offlineReported(openid: string, reason: UserOfflineReason) {
  return events.events.some(
    (e) =>
      e.wechat?.openid === openid && e.payload.case === 'userOffline' && e.payload.value.reason === reason,
  );
}

async function login(replica: Replica, user: string) {
  const created = await replica.auth.createSession({ appid: APPID, openid: user });
  return created.sessionToken;
}

test('1,000 deliveries to 100 users across 3 replicas: none lost, misrouted or duplicated', async () => {
  const users = Array.from({ length: 100 }, (_, i) => openidOf(`d${i}`));
  // Every user attaches on one replica; every tenth user has a second channel on another one.
  const channels = new Map<string, Channel[]>();
  for (const [i, user] of users.entries()) {
    const token = await login(replicas[i % 3]!, user);
    const list = [attach(replicas[i % 3]!, token)];
    if (i % 10 === 0) list.push(attach(replicas[(i + 1) % 3]!, token));
    channels.set(user, list);
  }
  await Promise.all([...channels.values()].flat().map((c) => c.channelId));

  const sent = new Map<string, string[]>();
  const outcomes = await Promise.all(
    Array.from({ length: 1000 }, async (_, n) => {
      const user = users[(n * 7) % users.length]!;
      const deliveryId = `dl-${RUN}-${n}`;
      sent.set(user, [...(sent.get(user) ?? []), deliveryId]);
      const via = replicas[n % 3]!;
      return via.router.deliver({
        openid: user,
        deliveryId,
        kind: 'test.message',
        payload: new TextEncoder().encode(JSON.stringify({ n, user })),
      });
    }),
  );
  for (const outcome of outcomes) assert.equal(outcome.status, DeliverStatus.DELIVERED);

  for (const [user, list] of channels) {
    const expected = [...(sent.get(user) ?? [])].sort();
    for (const channel of list) {
      await waitFor(() => channel.messages.length >= expected.length, {
        timeoutMs: 10_000,
        message: `${user}'s channel received its ${expected.length} messages`,
      });
      const got = channel.messages.map((m) => m.deliveryId);
      assert.deepEqual([...got].sort(), expected, `${user}: exactly its own messages, each once`);
      for (const m of channel.messages) {
        assert.equal(JSON.parse(new TextDecoder().decode(m.payload)).user, user, 'payload intact');
      }
    }
    assert.equal(
      outcomes
        .filter((_, n) => users[(n * 7) % users.length] === user)
        .every((o) => o.deliveredChannels === list.length),
      true,
      `${user}: every delivery reports all ${list.length} channel(s)`,
    );
  }
  for (const c of [...channels.values()].flat()) c.close();
  await Promise.all([...channels.values()].flat().map((c) => c.ended));
});

test('presence: online with replica and channel count, offline after detach, batch in order', async () => {
  const [a, b] = replicas as [Replica, Replica];
  const user = openidOf('presence');
  const stranger = openidOf('never-seen');
  const token = await login(a, user);
  const first = attach(a, token);
  const second = attach(b, token);
  await Promise.all([first.channelId, second.channelId]);

  const { presence } = await b.router.getPresence({ openid: user });
  assert.equal(presence!.status, PresenceStatus.ONLINE);
  assert.deepEqual(presence!.replicaIds, [a.replicaId, b.replicaId].sort());
  assert.equal(presence!.channelCount, 2);

  const batch = await a.router.getPresenceBatch({ openids: [stranger, user] });
  assert.deepEqual(
    batch.presences.map((p) => [p.openid, p.status]),
    [
      [stranger, PresenceStatus.OFFLINE],
      [user, PresenceStatus.ONLINE],
    ],
  );
  assert.equal(batch.presences[0]!.lastSeenAt, undefined, 'never seen: no last_seen_at');

  first.close();
  second.close();
  await Promise.all([first.ended, second.ended]);
  await waitFor(
    async () => (await a.router.getPresence({ openid: user })).presence!.status === PresenceStatus.OFFLINE,
    {
      message: 'offline once both channels closed',
    },
  );
  const offline = (await a.router.getPresence({ openid: user })).presence!;
  assert.ok(offline.lastSeenAt !== undefined, 'last_seen_at kept after going offline');
  assert.equal(
    (await a.router.deliver({ openid: user, deliveryId: 'x', kind: 'k' })).status,
    DeliverStatus.OFFLINE,
  );

  await waitFor(
    () =>
      events.events.some((e) => e.wechat?.openid === user && e.payload.case === 'userOnline') &&
      offlineReported(user, UserOfflineReason.DETACHED),
    { timeoutMs: 15_000, message: 'UserOnline and UserOffline(DETACHED) on the topic' },
  );
  const online = events.events.filter((e) => e.wechat?.openid === user && e.payload.case === 'userOnline');
  assert.equal(online.length, 1, 'one UserOnline for two channels');
});

test('logging out on one replica ends the session’s channel on another with Unauthenticated', async () => {
  const [a, b] = replicas as [Replica, Replica];
  const user = openidOf('revoked');
  const token = await login(a, user);
  const channel = attach(b, token);
  await channel.channelId;
  const { revoked } = await a.asUser(token).revokeSession({
    target: { case: 'sessionToken', value: token },
    reason: RevokeReason.LOGOUT,
  });
  assert.equal(revoked, true);
  const error = await serverEnding(channel);
  assert.equal(error?.code, Code.Unauthenticated);
  assert.match(error!.rawMessage, /logged out/);
  await assert.rejects(
    b.auth.getSession({ sessionToken: token }),
    (e: { code: Code }) => e.code === Code.NotFound,
  );
});

test('bad input gets precise codes', async () => {
  const [a] = replicas as [Replica];
  const code = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'ok';
    } catch (err) {
      return Code[(err as { code: Code }).code];
    }
  };
  const forged = `${openidOf('x')}.${'A'.repeat(22)}.${'B'.repeat(43)}`;
  assert.equal(await code(a.auth.getSession({ sessionToken: forged })), 'NotFound');
  assert.equal(await code(a.auth.getSession({ sessionToken: 'not a token' })), 'InvalidArgument');
  // Signed in as the token's user, but the token in the body is not a live session.
  const unknownAttach = attach(a, forged, await login(a, openidOf('x')));
  const unknown = await serverEnding(unknownAttach);
  assert.equal(unknown?.code, Code.Unauthenticated);
  assert.match(unknown!.rawMessage, /^session_token is unknown/);
  assert.equal(await code(a.router.getPresence({ openid: '' })), 'InvalidArgument');
  assert.equal(
    await code(
      a.router.getPresenceBatch({ openids: Array.from({ length: 1001 }, (_, i) => openidOf(`b${i}`)) }),
    ),
    'InvalidArgument',
  );
  const big: Record<string, string> = {};
  for (let i = 0; i < 8; i++) big[`k${i}`] = 'v'.repeat(1000);
  assert.equal(
    await code(a.auth.createSession({ appid: APPID, openid: openidOf('big'), attributes: big })),
    'InvalidArgument',
  );
  assert.equal(await code(a.auth.createSession({ appid: 'nope', openid: openidOf('y') })), 'InvalidArgument');
  assert.equal(await code(a.router.deliver({ openid: '', deliveryId: 'd', kind: 'k' })), 'InvalidArgument');
});

test('SIGKILL a replica: its users go offline within the TTL, Deliver says OFFLINE, re-attach elsewhere gets each message once', async () => {
  const [a, b, c] = replicas as [Replica, Replica, Replica];
  const users = Array.from({ length: 5 }, (_, i) => openidOf(`k${i}`));
  const tokens = await Promise.all(users.map((u) => login(a, u)));
  const onC = tokens.map((t) => attach(c, t));
  await Promise.all(onC.map((ch) => ch.channelId));
  for (const [i, u] of users.entries()) {
    assert.equal((await a.router.getPresence({ openid: u })).presence!.status, PresenceStatus.ONLINE);
    const before = await a.router.deliver({ openid: u, deliveryId: `before-${u}`, kind: 'k' });
    assert.equal(before.status, DeliverStatus.DELIVERED);
    await waitFor(() => onC[i]!.messages.length === 1, { message: `${u} got a message before the kill` });
  }

  c.process.child.kill('SIGKILL');
  const killedAt = Date.now();
  await waitFor(
    async () =>
      (await a.router.getPresenceBatch({ openids: users })).presences.every(
        (p) => p.status === PresenceStatus.OFFLINE,
      ),
    { timeoutMs: TTL_MS + 2_000, message: 'users of the killed replica read as offline' },
  );
  const tookMs = Date.now() - killedAt;
  const slack = loadScaledBound(250);
  assert.ok(tookMs <= TTL_MS + slack, `offline within the TTL (${tookMs} ms, TTL ${TTL_MS} ms)`);
  for (const u of users) {
    assert.equal(
      (await b.router.deliver({ openid: u, deliveryId: `gone-${u}`, kind: 'k' })).status,
      DeliverStatus.OFFLINE,
    );
  }

  await waitFor(() => users.every((u) => offlineReported(u, UserOfflineReason.REPLICA_LOST)), {
    timeoutMs: 15_000,
    message: 'UserOffline(REPLICA_LOST) for every user of the killed replica',
  });
  const again = tokens.map((t) => attach(b, t));
  await Promise.all(again.map((ch) => ch.channelId));
  for (const [i, u] of users.entries()) {
    const res = await a.router.deliver({ openid: u, deliveryId: `back-${u}`, kind: 'k' });
    assert.equal(res.status, DeliverStatus.DELIVERED);
    assert.equal(res.deliveredChannels, 1);
    await waitFor(() => again[i]!.messages.length === 1, { message: `${u} got the new message` });
  }
  for (const [i, u] of users.entries()) {
    assert.deepEqual(
      again[i]!.messages.map((m) => m.deliveryId),
      [`back-${u}`],
      'nothing from before the kill arrived, nothing twice',
    );
  }
  for (const ch of again) ch.close();
  await Promise.all(again.map((ch) => ch.ended));
});

test('SIGTERM a replica: its streams end with Unavailable "reconnect", its users read offline at once', async () => {
  const [a, b] = replicas as [Replica, Replica];
  const users = Array.from({ length: 5 }, (_, i) => openidOf(`t${i}`));
  const tokens = await Promise.all(users.map((u) => login(a, u)));
  const onB = tokens.map((t) => attach(b, t));
  await Promise.all(onB.map((ch) => ch.channelId));

  b.process.child.kill('SIGTERM');
  const errors = await Promise.all(onB.map((ch) => ch.ended));
  const presences = (await a.router.getPresenceBatch({ openids: users })).presences;
  for (const error of errors) {
    assert.equal(error?.code, Code.Unavailable);
    assert.match(error!.rawMessage, /reconnect/);
  }
  assert.deepEqual(
    presences.map((p) => p.status),
    users.map(() => PresenceStatus.OFFLINE),
    'offline as soon as the streams ended',
  );
  assert.equal(await b.process.exited, 0);
  await waitFor(() => users.every((u) => offlineReported(u, UserOfflineReason.REPLICA_SHUTDOWN)), {
    timeoutMs: 15_000,
    message: 'UserOffline(REPLICA_SHUTDOWN) for each user',
  });
});

test('a client that stops reading is cut off with ResourceExhausted, not buffered without limit', async () => {
  const slow = await startReplica(infra, `r-${RUN}-slow`, {
    ...FAST_PRESENCE,
    CHANNEL_BUFFER: '4',
    DELIVER_TIMEOUT: '1s',
  });
  replicas.push(slow);
  const user = openidOf('slow');
  const token = await login(slow, user);
  // The Connect client reads the HTTP/1.1 response only as the stream is pulled: after the
  // Attached item nothing is pulled, so the socket fills and the server's writes stop being taken.
  const controller = new AbortController();
  const stream = slow
    .asUser(token)
    .attach({ sessionToken: token }, { signal: controller.signal })
    [Symbol.asyncIterator]();
  const first = await stream.next();
  assert.equal(first.done ? undefined : first.value.item.case, 'attached');

  // 64 KiB messages until the channel's buffer overflows (the socket's buffers take some first).
  const payload = new Uint8Array(64 * 1024).fill(7);
  const statuses: DeliverStatus[] = [];
  await waitFor(
    async () => {
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, (_, n) =>
          slow.router.deliver({
            openid: user,
            deliveryId: `slow-${statuses.length + n}`,
            kind: 'k',
            payload,
          }),
        ),
      );
      statuses.push(...outcomes.map((o) => o.status));
      return (await slow.router.getPresence({ openid: user })).presence!.status === PresenceStatus.OFFLINE;
    },
    { timeoutMs: 20_000, message: 'the cut-off user reads offline' },
  );
  assert.ok(statuses.includes(DeliverStatus.FAILED), 'deliveries the channel could not take are FAILED');

  const error = await (async () => {
    try {
      for (let item = await stream.next(); !item.done; item = await stream.next());
      return undefined;
    } catch (err) {
      return ConnectError.from(err);
    }
  })();
  controller.abort();
  assert.equal(error?.code, Code.ResourceExhausted);
  assert.match(error!.rawMessage, /buffer full \(4 messages\)/);
  await waitFor(() => offlineReported(user, UserOfflineReason.OVERFLOW), {
    timeoutMs: 15_000,
    message: 'UserOffline(OVERFLOW) on the topic',
  });
});
