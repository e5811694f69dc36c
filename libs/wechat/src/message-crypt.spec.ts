// Known-answer tests against Tencent's own published WXBizMsgCrypt samples (public sample
// configurations, not live credentials). Each vector names where its values were copied from.
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { test } from 'node:test';
import {
  createMessageCrypt,
  MessageCryptError,
  parsePushBody,
  type MessageCrypt,
  type MessageCryptFailure,
} from './index.js';

// WeChat official-account demo (Tencent's cryptoDemo.zip, Java/.../aes/test/WXBizMsgCryptTest.java),
// as carried verbatim by chanjarster/weixin-java-tools,
// weixin-java-common/src/test/java/me/chanjar/weixin/common/util/crypto/WxCryptUtilTest.java:
// fixed random prefix "aaaabbbbccccdddd" and the ciphertexts it must produce.
const MP_DEMO = {
  token: 'pamtest',
  encodingAesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  appid: 'wxb11529c136998cb6',
  timestamp: '1409304348',
  nonce: 'xxxxxx',
  randomPrefix: 'aaaabbbbccccdddd',
  replyMsg: '我是中文abcd123',
  afterAesEncrypt: 'jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==',
  replyMsg2:
    '<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>',
  afterAesEncrypt2:
    'jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb',
};

// WeCom (企业微信) official callback samples: sbzhu/weworkapi_php, callback/Sample.php (XML; the
// decrypted message is printed in its comment), and workweixin/weworkapi_golang,
// json_callback/sample.go (same Token/key/receiveid; JSON push, its plaintext is that file's respData).
const WECOM = {
  token: 'QDG6eK',
  encodingAesKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
  appid: 'wx5823bf96d3bd56c7',
  verifyUrl: {
    msgSignature: '5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3',
    timestamp: '1409659589',
    nonce: '263014780',
    encrypt: 'P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==',
  },
  xmlPush: {
    msgSignature: '477715d11cdb4164915debcba66cb864d751f3e6',
    timestamp: '1409659813',
    nonce: '1372623149',
    body: '<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>',
    plaintext:
      '<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>',
  },
  jsonPush: {
    msgSignature: '0623cbc5a8cbee5bcc137c70de99575366fc2af3',
    timestamp: '1409659813',
    nonce: '1372623149',
    body: '{"tousername":"wx5823bf96d3bd56c7","encrypt":"CZWs4CWRpI4VolQlvn4dlEC1alN2MUEY2VklGehgBVLBrlVF7SyT+SV+Toj43l4ayJ9UMGKphktKKmP7B2j/P1ey67XB8PBgS7Wr5/8+w/yWriZv3Vmoo/MH3/1HsIWZrPQ3N2mJrelStIfI2Y8kLKXA7EhfZgZX4o+ffdkZDM76SEl79Ib9mw7TGjZ9Aw/x/A2VjNbV1E8BtEbRxYYcQippYNw7hr8sFfa3nW1xLdxokt8QkRX83vK3DFP2F6TQFPL2Tu98UwhcUpPvdJBuu1/yiOQIScppV3eOuLWEsko=","agentid":"218"}',
    plaintext:
      '{"ToUserName":"wx5823bf96d3bd56c7","FromUserName":"mycreate","CreateTime": 1409659813,"MsgType":"text","Content":"hello","MsgId":4561255354251345929,"AgentID": 218}',
  },
};

// A second WeCom configuration: sbzhu/weworkapi_python, callback/Sample.py (its DecryptMsg
// ciphertext carries the very sRespData the same file encrypts afterwards).
const WECOM_PY = {
  token: 'hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo',
  encodingAesKey: '6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt',
  appid: 'ww1436e0e65a779aee',
  verifyUrl: {
    msgSignature: '012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb',
    timestamp: '1476416373',
    nonce: '47744683',
    encrypt: 'fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==',
  },
  push: {
    msgSignature: '0c3914025cb4b4d68103f6bfc8db550f79dcf48e',
    timestamp: '1476422779',
    nonce: '1597212914',
    encrypt:
      'Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+',
    plaintext:
      '<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName><CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content><MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>',
  },
};

const fixedRandom = (text: string) => (size: number) => {
  assert.equal(size, 16);
  return Buffer.from(text, 'latin1');
};

const SECRETS = [MP_DEMO, WECOM, WECOM_PY].flatMap((c) => [c.token, c.encodingAesKey]);

/** Runs fn, expecting a MessageCryptError; returns its reason after checking it leaks nothing. */
function refusal(fn: () => unknown, plaintext?: string): MessageCryptFailure {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MessageCryptError, `expected MessageCryptError, got ${String(err)}`);
    for (const secret of SECRETS) assert.ok(!err.message.includes(secret), 'no token or key in errors');
    if (plaintext) assert.ok(!err.message.includes(plaintext), 'no plaintext in errors');
    return err.reason;
  }
  assert.fail('expected a MessageCryptError');
}

/** Encrypts a raw (already padded) plaintext under a key the way WeChat does, for crafted faults. */
function rawCipher(encodingAesKey: string, padded: Buffer): string {
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16)).setAutoPadding(false);
  return Buffer.concat([cipher.update(padded), cipher.final()]).toString('base64');
}

function layout(message: string, appid: string, lengthField?: number): Buffer {
  const body = Buffer.from(message, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(lengthField ?? body.length);
  return Buffer.concat([Buffer.from('0123456789abcdef'), length, body, Buffer.from(appid)]);
}

test('WeChat demo: the fixed random prefix yields exactly the published ciphertexts', () => {
  const crypt = createMessageCrypt({ ...MP_DEMO, random: fixedRandom(MP_DEMO.randomPrefix) });
  assert.equal(crypt.encrypt(MP_DEMO.replyMsg), MP_DEMO.afterAesEncrypt);
  assert.equal(crypt.encrypt(MP_DEMO.replyMsg2), MP_DEMO.afterAesEncrypt2);
  assert.deepEqual(crypt.decrypt(MP_DEMO.afterAesEncrypt), {
    message: MP_DEMO.replyMsg,
    appid: MP_DEMO.appid,
  });
  assert.deepEqual(crypt.decrypt(MP_DEMO.afterAesEncrypt2), {
    message: MP_DEMO.replyMsg2,
    appid: MP_DEMO.appid,
  });
});

test('WeCom sample: URL verification echostr and an XML push open under their published msg_signature', () => {
  const crypt = createMessageCrypt(WECOM);
  // The sample prints no plaintext for its echostr; the published signature and the receiveid
  // inside the ciphertext are the known answers. The digits are what the endpoint echoes back.
  assert.equal(crypt.open(WECOM.verifyUrl), '1616140317555161061');

  const { body, plaintext, ...query } = WECOM.xmlPush;
  const envelope = parsePushBody(body, 'xml');
  assert.equal(envelope.ToUserName, WECOM.appid);
  const message = crypt.open({ ...query, encrypt: String(envelope.Encrypt) });
  assert.equal(message, plaintext);
  const fields = parsePushBody(message, 'xml');
  assert.equal(fields.MsgId, '4561255354251345929', 'a 64-bit MsgId keeps every digit');
  assert.equal(fields.Content, 'hello');
  assert.equal(fields.AgentID, '218');
});

test('WeCom sample: a JSON push opens and its 64-bit MsgId survives JSON parsing', () => {
  const crypt = createMessageCrypt(WECOM);
  const { body, plaintext, ...query } = WECOM.jsonPush;
  const envelope = parsePushBody(body, 'json');
  const message = crypt.open({ ...query, encrypt: String(envelope.encrypt) });
  assert.equal(message, plaintext);
  const fields = parsePushBody(message, 'json');
  assert.equal(fields.MsgId, '4561255354251345929');
  assert.equal(fields.CreateTime, '1409659813');
});

test('WeCom Python sample: a second Token/key/receiver opens its URL check and its push', () => {
  const crypt = createMessageCrypt(WECOM_PY);
  assert.equal(crypt.open(WECOM_PY.verifyUrl), '1288432023552776189');
  const { plaintext, ...push } = WECOM_PY.push;
  assert.equal(crypt.open(push), plaintext);
  assert.equal(parsePushBody(plaintext, 'xml').Content, '你好');
});

test('published signatures: msg_signature recomputes, plain signature is SHA-1 of the sorted parts', () => {
  const crypt = createMessageCrypt(WECOM);
  const { msgSignature, timestamp, nonce, encrypt } = WECOM.verifyUrl;
  assert.equal(crypt.signature(timestamp, nonce, encrypt), msgSignature);
  // sorted ["a","b","c"] joined is "abc": FIPS 180 SHA-1 test vector a9993e36...d89d.
  const plain = createMessageCrypt({ ...WECOM, token: 'b' });
  const abc = 'a9993e364706816aba3e25717850c26c9cd0d89d';
  assert.equal(plain.signature('c', 'a'), abc);
  assert.equal(plain.verifySignature(abc, 'c', 'a'), true);
  assert.equal(plain.verifySignature(abc.toUpperCase(), 'a', 'c'), true);
  assert.equal(plain.verifySignature(`${abc.slice(0, -1)}e`, 'c', 'a'), false);
  assert.equal(plain.verifySignature(abc.slice(0, -2), 'c', 'a'), false);
  assert.equal(plain.verifySignature('', 'c', 'a'), false);
});

test('refusals: tampered signature or ciphertext, another receiver, another Token', () => {
  const crypt = createMessageCrypt(WECOM);
  const { msgSignature, ...rest } = WECOM.verifyUrl;
  const flipped = `${msgSignature.slice(0, -1)}${msgSignature.endsWith('0') ? '1' : '0'}`;
  assert.equal(
    refusal(() => crypt.open({ ...rest, msgSignature: flipped })),
    'signature',
  );
  const tampered = `Q${rest.encrypt.slice(1)}`;
  assert.equal(
    refusal(() => crypt.open({ ...rest, msgSignature, encrypt: tampered })),
    'signature',
  );
  assert.equal(
    refusal(() => crypt.open({ ...rest, msgSignature, timestamp: '1409659590' })),
    'signature',
  );
  const otherReceiver = createMessageCrypt({ ...WECOM, appid: 'wx0123456789abcdef' });
  assert.equal(
    refusal(() => otherReceiver.open(WECOM.verifyUrl)),
    'appid',
  );
  const otherToken = createMessageCrypt({ ...WECOM, token: 'QDG6eL' });
  assert.equal(
    refusal(() => otherToken.open(WECOM.verifyUrl)),
    'signature',
  );
});

test('refusals: bad PKCS#7 padding, whether the last byte or the run is wrong', () => {
  const crypt = createMessageCrypt(WECOM);
  const plain = layout('hello', WECOM.appid); // 43 bytes: 21 bytes of padding to 64
  const pad = (last: number, fill: number) =>
    Buffer.concat([plain, Buffer.alloc(20, fill), Buffer.from([last])]);
  const faults = [pad(0, 21), pad(33, 21), pad(21, 7), pad(64, 64)];
  assert.deepEqual(crypt.decrypt(rawCipher(WECOM.encodingAesKey, pad(21, 21))), {
    message: 'hello',
    appid: WECOM.appid,
  });
  for (const padded of faults) {
    const encrypt = rawCipher(WECOM.encodingAesKey, padded);
    assert.equal(
      refusal(() => crypt.decrypt(encrypt), 'hello'),
      'padding',
    );
    const signed = { msgSignature: crypt.signature('1', '2', encrypt), timestamp: '1', nonce: '2' };
    assert.equal(
      refusal(() => crypt.open({ ...signed, encrypt }), 'hello'),
      'padding',
    );
  }
});

test('refusals: not base64, not whole blocks, a length field past the end, not UTF-8', () => {
  const crypt = createMessageCrypt(WECOM);
  const sealed = (plain: Buffer) => {
    const padLength = 32 - (plain.length % 32);
    return rawCipher(WECOM.encodingAesKey, Buffer.concat([plain, Buffer.alloc(padLength, padLength)]));
  };
  assert.equal(
    refusal(() => crypt.decrypt('not base64!')),
    'malformed',
  );
  assert.equal(
    refusal(() => crypt.decrypt('')),
    'malformed',
  );
  assert.equal(
    refusal(() => crypt.decrypt(Buffer.alloc(17).toString('base64'))),
    'malformed',
  );
  assert.equal(
    refusal(() => crypt.decrypt(sealed(layout('hello', WECOM.appid, 0xffff)))),
    'malformed',
  );
  assert.equal(
    refusal(() => crypt.decrypt(sealed(Buffer.alloc(19, 1)))),
    'malformed',
  );
  const notUtf8 = Buffer.concat([layout('', WECOM.appid, 2), Buffer.from([0xc3, 0x28])]);
  assert.equal(
    refusal(() => crypt.decrypt(sealed(notUtf8))),
    'malformed',
  );
  const signed = { msgSignature: crypt.signature('1', '2', 'AAAA'), timestamp: '1', nonce: '2' };
  assert.equal(
    refusal(() => crypt.open({ ...signed, encrypt: 'AAAA' })),
    'malformed',
  );
});

test('round trip: every length around the 32-byte blocks, with a fixed random source', () => {
  let counter = 0;
  const random = (size: number) => Buffer.alloc(size, counter++ % 256);
  const crypt = createMessageCrypt({ ...WECOM, random });
  for (let n = 0; n <= 70; n++) {
    const message = '中'.repeat(n % 3) + 'x'.repeat(n);
    const encrypt = crypt.encrypt(message);
    assert.equal(Buffer.from(encrypt, 'base64').length % 32, 0);
    assert.deepEqual(crypt.decrypt(encrypt), { message, appid: WECOM.appid });
    const msgSignature = crypt.signature('1409659813', 'nonce', encrypt);
    assert.equal(crypt.open({ msgSignature, timestamp: '1409659813', nonce: 'nonce', encrypt }), message);
  }
  const again = createMessageCrypt({ ...WECOM, random: () => Buffer.alloc(16, 7) });
  assert.equal(
    again.encrypt('same'),
    again.encrypt('same'),
    'the ciphertext depends only on the random source',
  );
});

test('seal: the XML and JSON envelopes parse back and open to the reply', () => {
  const reply =
    '<xml><ToUserName><![CDATA[mycreate]]></ToUserName><Content><![CDATA[this is a test]]></Content></xml>';
  const crypt = createMessageCrypt({ ...MP_DEMO, random: fixedRandom(MP_DEMO.randomPrefix) });
  const { timestamp, nonce } = MP_DEMO;
  const xml = crypt.seal(MP_DEMO.replyMsg, timestamp, nonce, 'xml');
  const signature = crypt.signature(timestamp, nonce, MP_DEMO.afterAesEncrypt);
  assert.equal(
    xml,
    `<xml><Encrypt><![CDATA[${MP_DEMO.afterAesEncrypt}]]></Encrypt><MsgSignature><![CDATA[${signature}]]></MsgSignature><TimeStamp>${timestamp}</TimeStamp><Nonce><![CDATA[${nonce}]]></Nonce></xml>`,
  );
  for (const format of ['xml', 'json'] as const) {
    const fields = parsePushBody(crypt.seal(reply, timestamp, nonce, format), format);
    assert.deepEqual(Object.keys(fields), ['Encrypt', 'MsgSignature', 'TimeStamp', 'Nonce']);
    assert.equal(fields.TimeStamp, timestamp);
    const opened = crypt.open({
      msgSignature: String(fields.MsgSignature),
      timestamp: String(fields.TimeStamp),
      nonce: String(fields.Nonce),
      encrypt: String(fields.Encrypt),
    });
    assert.equal(opened, reply);
  }
  assert.throws(() => crypt.seal(reply, '14093<x>', nonce, 'xml'), RangeError);
});

test('configuration: a bad EncodingAESKey, Token or appid is refused without echoing the key', () => {
  const bad = [
    WECOM.encodingAesKey.slice(0, 42),
    `${WECOM.encodingAesKey}A`,
    `${WECOM.encodingAesKey.slice(0, 42)}!`,
    `${WECOM.encodingAesKey.slice(0, 42)}=`,
  ];
  for (const encodingAesKey of bad) {
    assert.throws(
      () => createMessageCrypt({ ...WECOM, encodingAesKey }),
      (err: Error) => err instanceof RangeError && !err.message.includes(encodingAesKey.slice(0, 20)),
    );
  }
  assert.throws(() => createMessageCrypt({ ...WECOM, token: '' }), RangeError);
  assert.throws(() => createMessageCrypt({ ...WECOM, appid: '' }), RangeError);
  const short: MessageCrypt = createMessageCrypt({ ...WECOM, random: () => Buffer.alloc(8) });
  assert.throws(() => short.encrypt('x'), RangeError);
});
