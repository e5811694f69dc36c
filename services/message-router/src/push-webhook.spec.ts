// The message-push webhook in-process (a node:http server with just this route) against real
// Redis and Kafka, with the inbound processor running: URL verification, plain and safe mode in
// XML and JSON (WeCom's published safe-mode samples among them), refusals, one event for a push
// WeChat retried, size limits, and 503 when Redis is gone.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { BehaviourEvent } from '@wxmesh/contracts';
import {
  BEHAVIOUR_TOPIC,
  connectEventProducer,
  decodeBehaviourEvent,
  type EventProducer,
} from '@wxmesh/events';
import { createLogger, type HttpRoute } from '@wxmesh/rpc';
import {
  collectTopic,
  type Infra,
  startInfra,
  startRedis,
  testKafka,
  type TopicCollector,
  waitFor,
} from '@wxmesh/testing';
import { createMessageCrypt, renderPushXml } from '@wxmesh/wechat';
import { Redis } from 'ioredis';
import { createInboundStore, type InboundStore } from './adapters/inbound-store.js';
import { createSubscriptionStore } from './adapters/subscription-store.js';
import { createAcceptPush, type AcceptPush } from './app/accept-push.js';
import { createInboundProcessor, type InboundProcessor } from './app/process-inbound.js';
import { inboundEventId } from './domain/push-message.js';
import type { PushApp } from './inbound-config.js';
import { createPushWebhook } from './push-webhook.js';

const RUN = randomBytes(4).toString('hex');
const openidOf = (name: string) => `o_${RUN}_${name}`;
const PATH = '/wechat/push';
const MAX_BODY = 64 * 1024;
// WeChat's demo EncodingAESKey (cryptoDemo); the Tokens are ours.
const PLAIN: PushApp = { appid: 'wxplain000000001', token: 'plaintoken1' };
const SAFE: PushApp = {
  appid: 'wxsafe0000000002',
  token: 'safetoken2',
  encodingAesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
// WeCom's published callback samples (sbzhu/weworkapi_php callback/Sample.php for XML,
// workweixin/weworkapi_golang json_callback/sample.go for JSON; one Token, key and receiver).
const WECOM: PushApp = {
  appid: 'wx5823bf96d3bd56c7',
  token: 'QDG6eK',
  encodingAesKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
};
const WECOM_XML = {
  query: 'msg_signature=477715d11cdb4164915debcba66cb864d751f3e6&timestamp=1409659813&nonce=1372623149',
  body: '<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>',
};
const WECOM_JSON = {
  query: 'msg_signature=0623cbc5a8cbee5bcc137c70de99575366fc2af3&timestamp=1409659813&nonce=1372623149',
  body: '{"tousername":"wx5823bf96d3bd56c7","encrypt":"CZWs4CWRpI4VolQlvn4dlEC1alN2MUEY2VklGehgBVLBrlVF7SyT+SV+Toj43l4ayJ9UMGKphktKKmP7B2j/P1ey67XB8PBgS7Wr5/8+w/yWriZv3Vmoo/MH3/1HsIWZrPQ3N2mJrelStIfI2Y8kLKXA7EhfZgZX4o+ffdkZDM76SEl79Ib9mw7TGjZ9Aw/x/A2VjNbV1E8BtEbRxYYcQippYNw7hr8sFfa3nW1xLdxokt8QkRX83vK3DFP2F6TQFPL2Tu98UwhcUpPvdJBuu1/yiOQIScppV3eOuLWEsko=","agentid":"218"}',
};

const logLines: string[] = [];
const logger = createLogger({
  name: 'push-webhook-test',
  level: 'debug',
  destination: { write: (line: string) => void logLines.push(line) },
});

let infra: Infra<{ redis: true; kafka: true }>;
let redis: Redis;
let producer: EventProducer;
let topic: TopicCollector<BehaviourEvent>;
let store: InboundStore;
let processor: InboundProcessor;
let server: Server;
let base: string;

function webhook(
  overrides: {
    store?: InboundStore;
    deadlineMs?: number;
    acceptPush?: AcceptPush;
    maxInFlight?: number;
  } = {},
): HttpRoute {
  return createPushWebhook({
    path: PATH,
    apps: [PLAIN, SAFE, WECOM],
    acceptPush:
      overrides.acceptPush ?? createAcceptPush({ store: overrides.store ?? store, logger, now: Date.now }),
    logger,
    maxBodyBytes: MAX_BODY,
    maxInFlight: overrides.maxInFlight ?? 64,
    deadlineMs: overrides.deadlineMs ?? 3000,
  });
}

async function serve(route: HttpRoute): Promise<{ server: Server; base: string }> {
  const s = createServer((req, res) => {
    void Promise.resolve(route(req, res)).then((handled) => {
      if (!handled) res.writeHead(404, { 'content-type': 'text/plain' }).end('no route');
    });
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { server: s, base: `http://127.0.0.1:${(s.address() as AddressInfo).port}` };
}

before(async () => {
  infra = await startInfra({ redis: true, kafka: true });
  redis = new Redis(infra.redisUrl, { db: 12, enableAutoPipelining: true });
  await redis.flushdb();
  const kafka = testKafka(infra.kafkaBrokers, 'push-webhook-test');
  producer = await connectEventProducer({ kafka, producer: 'message-router', createTopics: true });
  topic = await collectTopic(infra.kafkaBrokers, BEHAVIOUR_TOPIC, {
    keyPrefix: `o_${RUN}_`,
    keep: decodeBehaviourEvent,
  });
  store = createInboundStore(redis, { maxEntries: 10_000 });
  processor = createInboundProcessor({
    store,
    subscriptions: createSubscriptionStore(redis),
    producer,
    logger,
    consumerName: 'webhook-test',
    claimIdleMs: 1000,
    now: Date.now,
    blockMs: 200,
  });
  processor.start();
  ({ server, base } = await serve(webhook()));
});

after(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await processor?.stop();
  await store?.close();
  await topic?.stop();
  await producer?.disconnect();
  redis?.disconnect();
  await infra?.stop();
});

const plainSigner = createMessageCrypt({ ...PLAIN, encodingAesKey: 'A'.repeat(43) });
const safeCrypt = createMessageCrypt({ ...SAFE, encodingAesKey: SAFE.encodingAesKey! });

function signedQuery(token: 'plain' | 'safe', extra: Record<string, string> = {}): string {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(5).toString('hex');
  const signature = (token === 'plain' ? plainSigner : safeCrypt).signature(timestamp, nonce);
  return new URLSearchParams({ signature, timestamp, nonce, ...extra }).toString();
}

function post(appid: string, query: string, body: string, headers: Record<string, string> = {}) {
  return fetch(`${base}${PATH}/${appid}?${query}`, { method: 'POST', body, headers });
}

/** A safe-mode push as WeChat sends it: the envelope's Encrypt in the body, msg_signature in the query. */
function sealed(message: string, format: 'xml' | 'json') {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(5).toString('hex');
  const envelope = safeCrypt.seal(message, timestamp, nonce, format);
  const { Encrypt: encrypt, MsgSignature: msgSignature } =
    format === 'json'
      ? (JSON.parse(envelope) as { Encrypt: string; MsgSignature: string })
      : {
          Encrypt: /<Encrypt><!\[CDATA\[(.*?)\]\]><\/Encrypt>/.exec(envelope)![1]!,
          MsgSignature: /<MsgSignature><!\[CDATA\[(.*?)\]\]><\/MsgSignature>/.exec(envelope)![1]!,
        };
  const body =
    format === 'json'
      ? JSON.stringify({ ToUserName: 'gh_123456789abc', Encrypt: encrypt })
      : renderPushXml({ ToUserName: 'gh_123456789abc', Encrypt: encrypt });
  const query = new URLSearchParams({
    signature: safeCrypt.signature(timestamp, nonce),
    timestamp,
    nonce,
    openid: 'ignored',
    encrypt_type: 'aes',
    msg_signature: msgSignature,
  }).toString();
  return { body, query, encrypt, timestamp, nonce };
}

const textXml = (openid: string, msgId: string) =>
  renderPushXml({
    ToUserName: 'gh_123456789abc',
    FromUserName: openid,
    CreateTime: 1700000000,
    MsgType: 'text',
    Content: 'a private message',
    MsgId: msgId,
  });

const eventsOf = (openid: string) => topic.records.filter((e) => e.wechat?.openid === openid);

async function expectAnswer(response: Response, status: number, text?: RegExp | string) {
  const body = await response.text();
  assert.equal(response.status, status, `status ${response.status}: ${body}`);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  if (typeof text === 'string') assert.equal(body, text);
  else if (text) assert.match(body, text);
}

test('URL verification: echostr for a good signature, 401 for a bad one', async () => {
  const echostr = '7147543225479138931';
  const ok = await fetch(`${base}${PATH}/${PLAIN.appid}?${signedQuery('plain', { echostr })}`);
  await expectAnswer(ok, 200, echostr);
  const safeOk = await fetch(`${base}${PATH}/${SAFE.appid}?${signedQuery('safe', { echostr })}`);
  await expectAnswer(safeOk, 200, echostr);

  const wrongToken = await fetch(`${base}${PATH}/${PLAIN.appid}?${signedQuery('safe', { echostr })}`);
  await expectAnswer(wrongToken, 401, /signature/);
  const tampered = new URLSearchParams(signedQuery('plain', { echostr }));
  tampered.set('nonce', `${tampered.get('nonce')}x`);
  await expectAnswer(await fetch(`${base}${PATH}/${PLAIN.appid}?${tampered}`), 401);
  await expectAnswer(await fetch(`${base}${PATH}/${PLAIN.appid}?${signedQuery('plain')}`), 400, /echostr/);
});

test('unknown appid 404, other methods 405, other paths not ours', async () => {
  await expectAnswer(await post('wxunknown', signedQuery('plain'), textXml(openidOf('x'), '1')), 404);
  const put = await fetch(`${base}${PATH}/${PLAIN.appid}`, { method: 'PUT', body: 'x' });
  assert.equal(put.headers.get('allow'), 'GET, POST');
  await expectAnswer(put, 405);
  const other = await fetch(`${base}/somewhere/else`);
  assert.equal(await other.text(), 'no route');
});

test('plain mode, XML: answered success, processed into its event', async () => {
  const user = openidOf('plain-xml');
  const response = await post(PLAIN.appid, signedQuery('plain'), textXml(user, '1001'), {
    'content-type': 'text/xml',
  });
  await expectAnswer(response, 200, 'success');
  const [event] = await waitFor(() => (eventsOf(user).length > 0 ? eventsOf(user) : undefined), {
    timeoutMs: 20_000,
    message: 'the MessageReceived event',
  });
  assert.equal(event!.eventId, inboundEventId(PLAIN.appid, 'm:1001', 0));
  assert.equal(event!.payload.case, 'messageReceived');
});

test('plain mode, JSON: answered success, processed into its event', async () => {
  const user = openidOf('plain-json');
  const body = `{"ToUserName":"gh_1","FromUserName":"${user}","CreateTime":1700000000,"MsgType":"event","Event":"CLICK","EventKey":"MENU_1"}`;
  await expectAnswer(await post(PLAIN.appid, signedQuery('plain'), body), 200, 'success');
  const [event] = await waitFor(() => (eventsOf(user).length > 0 ? eventsOf(user) : undefined), {
    timeoutMs: 20_000,
    message: 'the MenuClicked event',
  });
  assert.equal(event!.eventId, inboundEventId(PLAIN.appid, `e:${user}:1700000000:CLICK`, 0));
  assert.equal(event!.payload.case, 'menuClicked');
});

test('plain mode: a bad or missing signature is refused before anything is stored', async () => {
  const user = openidOf('plain-forged');
  const forged = new URLSearchParams(signedQuery('plain'));
  forged.set('signature', '0'.repeat(40));
  await expectAnswer(await post(PLAIN.appid, forged.toString(), textXml(user, '1002')), 401);
  await expectAnswer(await post(PLAIN.appid, 'timestamp=1&nonce=2', textXml(user, '1002')), 401);
  assert.equal(await redis.exists(`wxm:router:{inbound}:seen:${PLAIN.appid}:m:1002`), 0);
});

test('safe mode, XML and JSON: msg_signature checked, decrypted, accepted, processed', async () => {
  const user = openidOf('safe');
  const xmlPush = sealed(textXml(user, '2001'), 'xml');
  await expectAnswer(await post(SAFE.appid, xmlPush.query, xmlPush.body), 200, 'success');
  const jsonMessage = JSON.stringify({
    ToUserName: 'gh_123456789abc',
    FromUserName: user,
    CreateTime: 1700000001,
    MsgType: 'event',
    Event: 'subscribe_msg_popup_event',
    List: { TemplateId: 'T_safe', SubscribeStatusString: 'accept', PopupScene: '0' },
  });
  const jsonPush = sealed(jsonMessage, 'json');
  const response = await post(SAFE.appid, jsonPush.query, jsonPush.body, {
    'content-type': 'application/json',
  });
  await expectAnswer(response, 200, 'success');
  await waitFor(() => eventsOf(user).length === 2, { timeoutMs: 20_000, message: 'both events' });
  assert.deepEqual(
    eventsOf(user)
      .map((e) => e.payload.case)
      .sort(),
    ['messageReceived', 'subscriptionChanged'],
  );
  assert.equal(await createSubscriptionStore(redis).status(SAFE.appid, user, 'T_safe'), 'accept');
});

test('WeCom’s published safe-mode samples (XML and JSON) verify, decrypt and are accepted', async () => {
  await expectAnswer(
    await post(WECOM.appid, `${WECOM_XML.query}&encrypt_type=aes`, WECOM_XML.body),
    200,
    'success',
  );
  await expectAnswer(
    await post(WECOM.appid, `${WECOM_JSON.query}&encrypt_type=aes`, WECOM_JSON.body),
    200,
    'success',
  );
  // Both samples are the same message (MsgId 4561255354251345929): the second is a duplicate.
  assert.equal(await redis.exists(`wxm:router:{inbound}:seen:${WECOM.appid}:m:4561255354251345929`), 1);
  const outcomes = logLines
    .map((line) => JSON.parse(line) as { appid?: string; outcome?: string })
    .filter((l) => l.appid === WECOM.appid)
    .map((l) => l.outcome);
  assert.deepEqual(outcomes, ['accepted', 'duplicate']);
});

test('safe mode refusals: tampered signature 401, another appid 401, bad padding 400, no Encrypt 400', async () => {
  const user = openidOf('safe-refused');
  const good = sealed(textXml(user, '3001'), 'xml');

  const tampered = new URLSearchParams(good.query);
  // The last hex digit changed (to 0, or to 1 when it already is 0, or nothing would be tampered).
  const signature = tampered.get('msg_signature')!;
  tampered.set('msg_signature', `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`);
  await expectAnswer(await post(SAFE.appid, tampered.toString(), good.body), 401, /msg_signature/);

  // Same Token and key, encrypted for another receiver: the signature holds, the appid does not.
  const other = createMessageCrypt({
    ...SAFE,
    appid: 'wxsomeoneelse0003',
    encodingAesKey: SAFE.encodingAesKey!,
  });
  const foreign = other.encrypt(textXml(user, '3002'));
  const q = new URLSearchParams(good.query);
  q.set('msg_signature', safeCrypt.signature(good.timestamp, good.nonce, foreign));
  await expectAnswer(
    await post(SAFE.appid, q.toString(), renderPushXml({ Encrypt: foreign })),
    401,
    /another appid/,
  );

  // Signed with our Token, encrypted under another key: decryption ends in bad padding (or layout).
  const wrongKey = createMessageCrypt({ ...SAFE, encodingAesKey: 'B'.repeat(42) + 'A' });
  const garbled = wrongKey.encrypt(textXml(user, '3003'));
  q.set('msg_signature', safeCrypt.signature(good.timestamp, good.nonce, garbled));
  await expectAnswer(
    await post(SAFE.appid, q.toString(), renderPushXml({ Encrypt: garbled })),
    400,
    /decrypt/,
  );

  await expectAnswer(await post(SAFE.appid, good.query, renderPushXml({ ToUserName: 'x' })), 400, /Encrypt/);
  await expectAnswer(await post(PLAIN.appid, good.query, good.body), 400, /EncodingAESKey/);
  assert.deepEqual(eventsOf(user), []);
});

test('the same push posted 3 times: success each time, accepted once, one event', async () => {
  const user = openidOf('retried');
  const push = sealed(textXml(user, '4001'), 'xml');
  for (let i = 0; i < 3; i++)
    await expectAnswer(await post(SAFE.appid, push.query, push.body), 200, 'success');
  // Concurrent retries too (WeChat's come 5 s apart, but replicas may see them at once).
  const again = await Promise.all([1, 2, 3].map(() => post(SAFE.appid, push.query, push.body)));
  for (const response of again) await expectAnswer(response, 200, 'success');

  // A later push of the same user lands on the same partition after it: once it is read, so is everything before.
  await expectAnswer(await post(PLAIN.appid, signedQuery('plain'), textXml(user, '4002')), 200, 'success');
  await waitFor(() => eventsOf(user).some((e) => e.eventId === inboundEventId(PLAIN.appid, 'm:4002', 0)), {
    timeoutMs: 20_000,
    message: 'the sentinel event',
  });
  const retried = eventsOf(user).filter((e) => e.eventId === inboundEventId(SAFE.appid, 'm:4001', 0));
  assert.equal(retried.length, 1, 'one event for the push WeChat retried');
});

test('garbage and non-pushes are 400 with what is wrong; compressed bodies 415', async () => {
  const q = () => signedQuery('plain');
  await expectAnswer(await post(PLAIN.appid, q(), 'hello there'), 400, /neither XML nor JSON/);
  await expectAnswer(await post(PLAIN.appid, q(), '<xml><a>unclosed</xml>'), 400, /malformed XML/);
  await expectAnswer(await post(PLAIN.appid, q(), '{"FromUserName": '), 400, /malformed JSON/);
  await expectAnswer(await post(PLAIN.appid, q(), '<xml><MsgType>text</MsgType></xml>'), 400, /FromUserName/);
  await expectAnswer(
    await post(PLAIN.appid, q(), '<!DOCTYPE x [<!ENTITY a "b">]><xml><A>&a;</A></xml>'),
    400,
    /DOCTYPE/,
  );
  await expectAnswer(
    await post(PLAIN.appid, q(), textXml(openidOf('gz'), '5001'), { 'content-encoding': 'gzip' }),
    415,
    /Content-Encoding/,
  );
  await expectAnswer(
    await post(SAFE.appid, `${q()}&encrypt_type=des&msg_signature=x`, textXml(openidOf('gz'), '5002')),
    400,
    /encrypt_type/,
  );
});

test('oversize: a declared Content-Length over the limit is refused at once; a streamed one once it passes it', async () => {
  const declared = await rawPost(`${PATH}/${PLAIN.appid}?${signedQuery('plain')}`, {
    headers: { 'content-length': String(10 * 1024 * 1024) },
    chunks: [],
  });
  assert.equal(declared.status, 413);
  assert.match(declared.body, /over 65536 bytes/);

  const chunk = Buffer.alloc(16 * 1024, 'a');
  const streamed = await rawPost(`${PATH}/${PLAIN.appid}?${signedQuery('plain')}`, {
    headers: { 'transfer-encoding': 'chunked' },
    chunks: Array.from({ length: 64 }, () => chunk),
  });
  assert.equal(streamed.status, 413);
  assert.ok(
    streamed.written < 64 * chunk.length,
    `stopped reading early (client wrote ${streamed.written} bytes)`,
  );
});

test('Redis gone: 503 within the deadline, so WeChat retries', async () => {
  const own = await startRedis();
  const client = new Redis(own.url, { enableAutoPipelining: true });
  client.on('error', () => undefined);
  const ownStore = createInboundStore(client, { maxEntries: 100 });
  const { server: s, base: b } = await serve(webhook({ store: ownStore, deadlineMs: 800 }));
  try {
    const user = openidOf('redis-down');
    const first = await fetch(`${b}${PATH}/${PLAIN.appid}?${signedQuery('plain')}`, {
      method: 'POST',
      body: textXml(user, '6001'),
    });
    await expectAnswer(first, 200, 'success');
    await own.stop();
    const started = Date.now();
    const down = await fetch(`${b}${PATH}/${PLAIN.appid}?${signedQuery('plain')}`, {
      method: 'POST',
      body: textXml(user, '6002'),
    });
    await expectAnswer(down, 503, /retry/);
    assert.ok(Date.now() - started < 2500, 'answered well inside WeChat’s 5 s');
  } finally {
    await new Promise((resolve) => s.close(resolve));
    client.disconnect();
    await own.stop();
  }
});

test('a full inbound stream: 503 for new pushes, success for retries of accepted ones', async () => {
  await processor.stop(); // it would drain the stream this test fills
  await redis.flushdb();
  const tiny = createInboundStore(redis, { maxEntries: 1 });
  const { server: s, base: b } = await serve(webhook({ store: tiny }));
  const send = (body: string) =>
    fetch(`${b}${PATH}/${PLAIN.appid}?${signedQuery('plain')}`, { method: 'POST', body });
  try {
    const user = openidOf('full');
    await expectAnswer(await send(textXml(user, '7001')), 200, 'success');
    await expectAnswer(await send(textXml(user, '7002')), 503, /retry later/);
    await expectAnswer(await send(textXml(user, '7001')), 200, 'success');
    assert.equal(await tiny.length(), 1, 'nothing accepted was trimmed');
  } finally {
    await new Promise((resolve) => s.close(resolve));
  }
});

test('pushes in progress are bounded, and one past its deadline keeps its place until it settles', async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const stuck: AcceptPush = async () => {
    await gate;
    return { outcome: 'accepted', kind: 'text' };
  };
  const { server: s, base: b } = await serve(webhook({ acceptPush: stuck, maxInFlight: 1, deadlineMs: 300 }));
  const send = (msgId: string) =>
    fetch(`${b}${PATH}/${PLAIN.appid}?${signedQuery('plain')}`, {
      method: 'POST',
      body: textXml(openidOf('bounded'), msgId),
    });
  try {
    await expectAnswer(await send('8001'), 503, /deadline/);
    await expectAnswer(await send('8002'), 503, /in progress/);
    release();
    await waitFor(async () => (await send('8003')).status === 200, { message: 'room again once it settled' });
  } finally {
    release();
    await new Promise((resolve) => s.close(resolve));
  }
});

test('logs never carry the body, the user’s content, the token or the key', () => {
  const all = logLines.join('\n');
  for (const secret of [
    PLAIN.token,
    SAFE.token,
    SAFE.encodingAesKey!,
    WECOM.encodingAesKey!,
    'a private message',
  ])
    assert.ok(!all.includes(secret), `logs do not contain ${secret.slice(0, 4)}…`);
  assert.ok(logLines.some((line) => /"kind":"text".*"outcome":"accepted"/.test(line)));
});

/** A POST over node:http, writing `chunks` until the answer comes (the server may close early). */
function rawPost(
  path: string,
  options: { headers: Record<string, string>; chunks: Buffer[] },
): Promise<{ status: number; body: string; written: number }> {
  return new Promise((resolve, reject) => {
    let written = 0;
    let answered = false;
    const req = request(`${base}${path}`, { method: 'POST', headers: options.headers }, (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, written }));
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    req.flushHeaders();
    const writeNext = (i: number) => {
      if (answered || i >= options.chunks.length || req.destroyed) return;
      const chunk = options.chunks[i]!;
      written += chunk.length;
      req.write(chunk, () => setImmediate(() => writeNext(i + 1)));
    };
    writeNext(0);
  });
}
