// The inbound stream against a real Redis: accept-once, the size cap that refuses instead of
// trimming, the consumer group's read / claim / done, and the codec.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { startInfra, waitFor, type Infra } from '@wxmesh/testing';
import { Redis } from 'ioredis';
import { createInboundStore, DEDUPE_TTL_MS, INBOUND_GROUP, inboundKeys } from './inbound-store.js';

let infra: Infra<{ redis: true; kafka: false }>;
let redis: Redis;
const NOW = 1_700_000_000_000;
const push = (n: number) => ({
  FromUserName: `o_${n}`,
  CreateTime: '1700000000',
  MsgType: 'event',
  Event: 'subscribe_msg_popup_event',
  SubscribeMsgPopupEvent: { List: [{ TemplateId: 'T1', SubscribeStatusString: 'accept' }] },
});

before(async () => {
  infra = await startInfra({ redis: true, kafka: false });
  // A database of its own: the stream's key is fixed, and other specs use it too.
  redis = new Redis(infra.redisUrl, { db: 11, enableAutoPipelining: true });
});

beforeEach(async () => {
  await redis.flushdb();
});

after(async () => {
  redis?.disconnect();
  await infra?.stop();
});

test('a push is accepted once: the retry is a duplicate and adds nothing', async () => {
  const store = createInboundStore(redis, { maxEntries: 100 });
  assert.equal(await store.accept('wx1', 'm:1', push(1), NOW), 'accepted');
  assert.equal(await store.accept('wx1', 'm:1', push(1), NOW + 1), 'duplicate');
  assert.equal(await store.accept('wx1', 'm:1', push(1), NOW + 2), 'duplicate');
  assert.equal(
    await store.accept('wx2', 'm:1', push(1), NOW),
    'accepted',
    'another app’s push is another push',
  );
  assert.equal(await store.length(), 2);
  const ttl = await redis.pttl(inboundKeys.seen('wx1', 'm:1'));
  assert.ok(ttl > DEDUPE_TTL_MS - 60_000 && ttl <= DEDUPE_TTL_MS, `marker TTL ${ttl}`);
});

test('a full stream refuses new pushes without trimming; a retry is accepted once there is room', async () => {
  const store = createInboundStore(redis, { maxEntries: 2 });
  assert.equal(await store.accept('wx1', 'm:1', push(1), NOW), 'accepted');
  assert.equal(await store.accept('wx1', 'm:2', push(2), NOW), 'accepted');
  assert.equal(await store.accept('wx1', 'm:3', push(3), NOW), 'full');
  assert.equal(
    await store.accept('wx1', 'm:1', push(1), NOW),
    'duplicate',
    'a retry of an accepted push still succeeds',
  );
  assert.equal(await store.length(), 2, 'nothing accepted was dropped');
  assert.equal(await redis.exists(inboundKeys.seen('wx1', 'm:3')), 0, 'a refused push leaves no marker');

  await store.ensureGroup();
  const [first] = await store.read('c1', 1, 10);
  await store.done([first!.id]);
  assert.equal(await store.accept('wx1', 'm:3', push(3), NOW), 'accepted');
  await store.close();
});

test('read, claim after idle, done: the group hands each entry out, a dead consumer’s are taken over', async () => {
  const store = createInboundStore(redis, { maxEntries: 100 });
  await store.ensureGroup();
  await store.ensureGroup();
  for (let n = 1; n <= 3; n++) await store.accept('wx1', `m:${n}`, push(n), NOW + n);

  const read = await store.read('dead', 10, 10);
  assert.deepEqual(
    read.map((e) => [e.appid, e.dedupeKey, e.acceptedAt]),
    [
      ['wx1', 'm:1', NOW + 1],
      ['wx1', 'm:2', NOW + 2],
      ['wx1', 'm:3', NOW + 3],
    ],
  );
  assert.deepEqual(read[0]!.fields, push(1), 'the fields round-trip, nested List included');
  assert.deepEqual(await store.read('other', 10, 10), [], 'entries go to one consumer only');

  assert.deepEqual((await store.claim('other', 60_000, 10, '0-0')).entries, [], 'not idle long enough yet');
  const claimed = await waitFor(
    async () => {
      const { entries } = await store.claim('other', 50, 10, '0-0');
      return entries.length > 0 ? entries : undefined;
    },
    { message: 'entries idle over 50 ms are claimed' },
  );
  assert.deepEqual(
    claimed.map((e) => e.id),
    read.map((e) => e.id),
  );
  const pending = (await redis.xpending(inboundKeys.stream, INBOUND_GROUP, '-', '+', 10)) as Array<
    [string, string]
  >;
  assert.ok(pending.every(([, consumer]) => consumer === 'other'));

  await store.done(claimed.map((e) => e.id));
  assert.equal(await store.length(), 0, 'done deletes');
  assert.equal(
    ((await redis.xpending(inboundKeys.stream, INBOUND_GROUP)) as [number])[0],
    0,
    'and acknowledges',
  );
  await store.close();
});

test('claim pages through the pending list with its cursor', async () => {
  const store = createInboundStore(redis, { maxEntries: 100 });
  await store.ensureGroup();
  for (let n = 1; n <= 5; n++) await store.accept('wx1', `m:${n}`, push(n), NOW);
  await store.read('dead', 10, 10);
  const seen: string[] = [];
  let cursor = '0-0';
  await waitFor(async () => {
    const page = await store.claim('other', 20, 2, cursor);
    seen.push(...page.entries.map((e) => e.dedupeKey));
    cursor = page.cursor;
    return seen.length === 5;
  });
  assert.deepEqual(seen, ['m:1', 'm:2', 'm:3', 'm:4', 'm:5']);
  await store.close();
});

test('a blocking read waits on its own connection: the shared one keeps answering', async () => {
  const store = createInboundStore(redis, { maxEntries: 100 });
  await store.ensureGroup();
  const started = Date.now();
  const reading = store.read('c1', 10, 400);
  assert.equal(await redis.ping(), 'PONG');
  assert.ok(Date.now() - started < 300, 'PING was not stuck behind the blocked read');
  assert.deepEqual(await reading, []);
  await store.close();
});

test('an entry whose fields are unreadable comes back with empty fields', async () => {
  const store = createInboundStore(redis, { maxEntries: 100 });
  await store.ensureGroup();
  await redis.xadd(inboundKeys.stream, '*', 'a', 'wx1', 'k', 'm:9', 'f', 'not json', 't', '1');
  const [entry] = await store.read('c1', 10, 10);
  assert.deepEqual(entry?.fields, {});
  assert.equal(entry?.dedupeKey, 'm:9');
  await store.close();
});
