// The sandbox playing WeChat's message push against a small local receiver: signatures and
// encryption checked with libs/wechat's message crypt, retries while unanswered, forced
// redeliveries, encrypted passive replies, and the popup event of a subscription fixture.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { createMessageCrypt, parsePushBody } from '@wxmesh/wechat';
import { useTestSandbox, type Json } from './test-support.js';

const APP = { appid: 'wxpush00000000001', secret: 'push-secret' };
const sandbox = useTestSandbox([APP]);

const TOKEN = 'pushToken123';
const KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const crypt = createMessageCrypt({ token: TOKEN, encodingAesKey: KEY, appid: APP.appid });

/** A request the receiver got. */
interface Received {
  readonly query: URLSearchParams;
  readonly body: string;
  readonly contentType: string | undefined;
}

type Behaviour = (req: Received, res: ServerResponse) => void;

/** The developer's push URL: records every request and answers with the next queued behaviour. */
const receiver = {
  url: '',
  received: [] as Received[],
  behaviours: [] as Behaviour[],
  fallback: ((_, res) => res.end('success')) as Behaviour,
};
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const received = {
      query: new URL(req.url!, 'http://receiver').searchParams,
      body: Buffer.concat(chunks).toString('utf8'),
      contentType: req.headers['content-type'],
    };
    receiver.received.push(received);
    (receiver.behaviours.shift() ?? receiver.fallback)(received, res);
  });
});

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/wechat/push`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  receiver.received = [];
  receiver.behaviours = [];
  receiver.fallback = (_, res) => res.end('success');
});

async function configure(config: Json) {
  const res = await sandbox.post('/sandbox/mp/push-config', {
    appid: APP.appid,
    url: receiver.url,
    token: TOKEN,
    encodingAesKey: KEY,
    ...config,
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

async function push(message: Json, deliveries?: number) {
  const res = await sandbox.post('/sandbox/mp/push', { appid: APP.appid, message, deliveries });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as {
    attempts: { status?: number; error?: string; ms: number }[];
    answered: boolean;
    reply?: string;
  };
}

/** Checks the query's signatures and opens a safe/compat push: the inner message text. */
function open(received: Received, encrypt: string): string {
  const q = received.query;
  assert.ok(crypt.verifySignature(q.get('signature')!, q.get('timestamp')!, q.get('nonce')!), 'signature');
  assert.equal(q.get('encrypt_type'), 'aes');
  return crypt.open({
    msgSignature: q.get('msg_signature')!,
    timestamp: q.get('timestamp')!,
    nonce: q.get('nonce')!,
    encrypt,
  });
}

test('safe mode XML: signed and encrypted as WeChat does; an answer later than timeoutMs is retried; the encrypted reply is opened', async () => {
  const config = await configure({ mode: 'safe', format: 'xml', timeoutMs: 300 });
  assert.deepEqual(config, {
    appid: APP.appid,
    url: receiver.url,
    mode: 'safe',
    format: 'xml',
    timeoutMs: 300,
  });

  receiver.behaviours.push((_, res) => {
    setTimeout(() => res.end('success'), 900).unref();
  });
  receiver.behaviours.push((req, res) => {
    const { timestamp, nonce } = Object.fromEntries(req.query);
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(
      crypt.seal(
        '<xml><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[收到]]></Content></xml>',
        timestamp!,
        nonce!,
        'xml',
      ),
    );
  });
  const result = await push({ FromUserName: 'o-user-1', MsgType: 'text', Content: '你好 <world> ]]>' });

  assert.equal(result.attempts.length, 2);
  assert.equal(result.attempts[0]!.error, 'timeout');
  assert.ok(result.attempts[0]!.ms >= 300);
  assert.equal(result.attempts[1]!.status, 200);
  assert.equal(result.answered, true);
  assert.equal(
    result.reply,
    '<xml><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[收到]]></Content></xml>',
  );

  const [first, second] = receiver.received;
  assert.equal(first!.body, second!.body, 'a retry is the same push');
  assert.equal(first!.query.toString(), second!.query.toString());
  assert.equal(first!.query.get('openid'), 'o-user-1');
  assert.match(first!.contentType!, /xml/);
  const envelope = parsePushBody(first!.body, 'xml');
  assert.deepEqual(Object.keys(envelope), ['ToUserName', 'Encrypt']);
  const inner = parsePushBody(open(first!, envelope.Encrypt as string), 'xml');
  assert.equal(inner.ToUserName, envelope.ToUserName);
  assert.match(inner.ToUserName as string, /^gh_[0-9a-f]{12}$/);
  assert.equal(inner.FromUserName, 'o-user-1');
  assert.equal(inner.MsgType, 'text');
  assert.equal(inner.Content, '你好 <world> ]]>');
  assert.match(inner.CreateTime as string, /^\d{10}$/);
  assert.match(inner.MsgId as string, /^\d+$/, 'messages get a MsgId');
  assert.equal(inner.CreateTime, first!.query.get('timestamp'));
});

test('plain mode JSON: signature only, cleartext body; deliveries sends the same push n times regardless', async () => {
  await configure({ mode: 'plain', format: 'json', encodingAesKey: undefined });
  const result = await push(
    { FromUserName: 'o-user-2', MsgType: 'event', Event: 'subscribe', CreateTime: 1700000000 },
    3,
  );
  assert.deepEqual(
    result.attempts.map((a) => a.status),
    [200, 200, 200],
  );
  assert.equal(result.answered, true);
  assert.equal(result.reply, 'success');
  assert.equal(receiver.received.length, 3);
  const req = receiver.received[0]!;
  assert.ok(
    crypt.verifySignature(req.query.get('signature')!, req.query.get('timestamp')!, req.query.get('nonce')!),
  );
  assert.equal(req.query.get('encrypt_type'), null);
  assert.equal(req.query.get('msg_signature'), null);
  assert.match(req.contentType!, /json/);
  const body = JSON.parse(req.body) as Json;
  assert.deepEqual(body, {
    ToUserName: body.ToUserName,
    FromUserName: 'o-user-2',
    CreateTime: 1700000000,
    MsgType: 'event',
    Event: 'subscribe',
  });
});

test('compat mode: cleartext plus Encrypt; non-200 answers are retried, three attempts in all', async () => {
  await configure({ mode: 'compat', format: 'json' });
  receiver.fallback = (_, res) => res.writeHead(500).end();
  const result = await push({ FromUserName: 'o-user-3', MsgType: 'text', Content: 'hi', MsgId: 42 });
  assert.deepEqual(
    result.attempts.map((a) => a.status),
    [500, 500, 500],
  );
  assert.equal(result.answered, false);
  assert.equal(result.reply, undefined);
  const body = JSON.parse(receiver.received[0]!.body) as Json;
  assert.equal(body.Content, 'hi');
  assert.equal(body.MsgId, 42);
  const { Encrypt, ...plain } = body;
  assert.deepEqual(JSON.parse(open(receiver.received[0]!, Encrypt as string)), plain);
});

test('an unreachable URL: three attempts with the connection error', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await configure({ mode: 'safe', format: 'xml', url: `http://127.0.0.1:${port}/push` });
  const result = await push({ FromUserName: 'o-user-4', MsgType: 'text', Content: 'hi' });
  assert.deepEqual(
    result.attempts.map((a) => a.error),
    ['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED'],
  );
  assert.equal(result.answered, false);
});

test('a subscription fixture with push: true pushes the subscribe_msg_popup_event', async () => {
  await configure({ mode: 'safe', format: 'xml' });
  await sandbox.post('/sandbox/mp/templates', {
    appid: APP.appid,
    template_id: 'tpl-1',
    keywords: ['thing1'],
  });
  const res = await sandbox.post('/sandbox/mp/subscriptions', {
    appid: APP.appid,
    openid: 'o-user-5',
    template_id: 'tpl-1',
    kind: 'one-time',
    push: true,
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal((res.body.push as Json).answered, true);
  assert.equal((res.body.subscription as Json).oneTimeGrants, 1);

  const received = receiver.received[0]!;
  const inner = parsePushBody(open(received, parsePushBody(received.body, 'xml').Encrypt as string), 'xml');
  assert.equal(inner.FromUserName, 'o-user-5');
  assert.equal(inner.MsgType, 'event');
  assert.equal(inner.Event, 'subscribe_msg_popup_event');
  assert.deepEqual(inner.SubscribeMsgPopupEvent, {
    List: { TemplateId: 'tpl-1', SubscribeStatusString: 'accept', PopupScene: '0' },
  });

  await configure({ mode: 'plain', format: 'json' });
  const rejected = await sandbox.post('/sandbox/mp/subscriptions', {
    appid: APP.appid,
    openid: 'o-user-5',
    template_id: 'tpl-1',
    kind: 'one-time',
    status: 'reject',
    push: true,
  });
  assert.equal(rejected.status, 200);
  const json = JSON.parse(receiver.received[1]!.body) as Json;
  assert.deepEqual(json.List, [{ TemplateId: 'tpl-1', SubscribeStatusString: 'reject', PopupScene: '0' }]);
});

test('push control refuses bad input without echoing secrets; push needs a config', async () => {
  const noConfig = await sandbox.post('/sandbox/mp/push', {
    appid: APP.appid,
    message: { FromUserName: 'o', MsgType: 'text' },
  });
  assert.equal(noConfig.status, 409);
  const bad = async (body: Json, field: string) => {
    const res = await sandbox.post('/sandbox/mp/push-config', {
      appid: APP.appid,
      url: receiver.url,
      token: TOKEN,
      encodingAesKey: KEY,
      mode: 'safe',
      format: 'xml',
      ...body,
    });
    assert.equal(res.status, 400);
    assert.match(res.body.error as string, new RegExp(`^${field}:`));
    assert.ok(
      !JSON.stringify(res.body).includes(TOKEN) && !JSON.stringify(res.body).includes(KEY.slice(0, 10)),
    );
  };
  await bad({ encodingAesKey: undefined }, 'encodingAesKey');
  await bad({ encodingAesKey: `${KEY}x` }, 'encodingAesKey');
  await bad({ token: 'to' }, 'token');
  await bad({ mode: 'secret' }, 'mode');
  await bad({ format: 'yaml' }, 'format');
  await bad({ url: 'ftp://example.com' }, 'url');
  await configure({ mode: 'safe', format: 'xml' });
  const noFrom = await sandbox.post('/sandbox/mp/push', { appid: APP.appid, message: { MsgType: 'text' } });
  assert.equal(noFrom.status, 400);
  assert.match(noFrom.body.error as string, /^message\.FromUserName/);
});
