// Push bodies as WeChat's documentation prints them; each example names its page.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePushBody, PushFormatError, renderPushXml } from './index.js';

// Mini-program subscribe-message docs, 订阅消息事件推送, XML 格式示例:
// https://developers.weixin.qq.com/miniprogram/dev/framework/open-ability/subscribe-message.html
const POPUP_XML = `<xml>
    <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>
    <FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>
    <CreateTime>1610969440</CreateTime>
    <MsgType><![CDATA[event]]></MsgType>
    <Event><![CDATA[subscribe_msg_popup_event]]></Event>
    <SubscribeMsgPopupEvent>
        <List>
            <TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>
            <SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>
            <PopupScene>2</PopupScene>
        </List>
        <List>
            <TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI]]></TemplateId>
            <SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>
            <PopupScene>2</PopupScene>
        </List>
    </SubscribeMsgPopupEvent>
</xml>`;

// Same page, JSON 格式示例 (the page's example ends in a stray trailing comma, dropped here).
const POPUP_JSON = `{
  "ToUserName": "gh_123456789abc",
  "FromUserName": "o7esq5OI1Uej6Xixw1lA2H7XDVbc",
  "CreateTime": "1620973045",
  "MsgType": "event",
  "Event": "subscribe_msg_popup_event",
  "List": [ {
      "TemplateId": "hD-ixGOhYmUfjOnI8MCzQMPshzGVeux_2vzyvQu7O68",
      "SubscribeStatusString": "accept",
      "PopupScene": "0"
    }]
}`;

// A change event with a single template, List as an object rather than an array, as reported
// from a live push in https://developers.weixin.qq.com/community/develop/doc/00042034428fa074706c908245b800
const CHANGE_JSON_ONE =
  '{"ToUserName":"xxxxx","FromUserName":"xxxxx","CreateTime":1625575518,"MsgType":"event","Event":"subscribe_msg_change_event","List":{"SubscribeStatusString":"reject","TemplateId":"NQezXFstp4zZV2q7u5aSprQZEx061ODkFJGLdungfoI"}}';

// Mini-program customer-service docs, 接收消息和事件, 文本消息 JSON 格式:
// https://developers.weixin.qq.com/miniprogram/dev/framework/open-ability/customer-message/receive.html
const TEXT_JSON = `{
  "ToUserName": "toUser",
  "FromUserName": "fromUser",
  "CreateTime": 1482048670,
  "MsgType": "text",
  "Content": "this is a test",
  "MsgId": 1234567890123456
}`;

// An official-account text push with a MsgId past 2^53, from fotock/WXbizMsgCrypt-Node, README.md.
const TEXT_XML =
  '<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId></xml>';

const refused = (body: string, format: 'xml' | 'json') =>
  assert.throws(
    () => parsePushBody(body, format),
    (err: Error) => err instanceof PushFormatError,
    `${format} body refused: ${body.slice(0, 60)}`,
  );

test('XML: the documented popup event, two List elements kept as an array of strings', () => {
  assert.deepEqual(parsePushBody(POPUP_XML, 'xml'), {
    ToUserName: 'gh_123456789abc',
    FromUserName: 'otFpruAK8D-E6EfStSYonYSBZ8_4',
    CreateTime: '1610969440',
    MsgType: 'event',
    Event: 'subscribe_msg_popup_event',
    SubscribeMsgPopupEvent: {
      List: [
        {
          TemplateId: 'VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc',
          SubscribeStatusString: 'accept',
          PopupScene: '2',
        },
        {
          TemplateId: '9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI',
          SubscribeStatusString: 'reject',
          PopupScene: '2',
        },
      ],
    },
  });
  const single = POPUP_XML.replace(/<List>(?:(?!<List>)[\s\S])*?reject[\s\S]*?<\/List>/, '');
  assert.deepEqual(parsePushBody(single, 'xml').SubscribeMsgPopupEvent, {
    List: {
      TemplateId: 'VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc',
      SubscribeStatusString: 'accept',
      PopupScene: '2',
    },
  });
});

test('XML: a 64-bit MsgId and every other value stay the text WeChat sent', () => {
  const fields = parsePushBody(TEXT_XML, 'xml');
  assert.equal(fields.MsgId, '6054768590064713728');
  assert.equal(fields.CreateTime, '1409735668');
  assert.equal(fields.Content, 'abcdteT');
  const text = parsePushBody(
    '<?xml version="1.0" encoding="UTF-8"?>\n<xml><A><![CDATA[  two  spaces ]]></A><B>a &amp; b &lt;c&gt; &#x4e2d;&#25991;</B><C></C><D/><E>007</E></xml>',
    'xml',
  );
  assert.deepEqual(text, { A: '  two  spaces ', B: 'a & b <c> 中文', C: '', D: '', E: '007' });
  assert.deepEqual(parsePushBody('<xml></xml>', 'xml'), {});
});

test('JSON: documented mini-program pushes, numbers kept as their digits, List as sent', () => {
  assert.deepEqual(parsePushBody(TEXT_JSON, 'json'), {
    ToUserName: 'toUser',
    FromUserName: 'fromUser',
    CreateTime: '1482048670',
    MsgType: 'text',
    Content: 'this is a test',
    MsgId: '1234567890123456',
  });
  assert.deepEqual(parsePushBody(POPUP_JSON, 'json').List, [
    {
      TemplateId: 'hD-ixGOhYmUfjOnI8MCzQMPshzGVeux_2vzyvQu7O68',
      SubscribeStatusString: 'accept',
      PopupScene: '0',
    },
  ]);
  const change = parsePushBody(CHANGE_JSON_ONE, 'json');
  assert.equal(change.CreateTime, '1625575518');
  assert.deepEqual(change.List, {
    SubscribeStatusString: 'reject',
    TemplateId: 'NQezXFstp4zZV2q7u5aSprQZEx061ODkFJGLdungfoI',
  });
  assert.equal(parsePushBody('{"MsgId":6054768590064713728}', 'json').MsgId, '6054768590064713728');
});

test('XML refusals: declarations, entity bombs, broken or foreign documents, deep nesting', () => {
  const bomb =
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><xml><Content>&lol2;</Content></xml>';
  for (const body of [
    bomb,
    '<!doctype xml><xml><A>1</A></xml>',
    '<xml><!ENTITY x "y"><A>1</A></xml>',
    '<xml><A>1</B></xml>',
    '<xml><A>1</A>',
    '<root><A>1</A></root>',
    '<xml><A>1</A></xml><xml><A>2</A></xml>',
    '<xml>just text</xml>',
    '<xml>text<A>1</A></xml>',
    '<xml><A>a & b</A></xml>',
    '<xml><__proto__>1</__proto__></xml>',
    `<xml>${'<a>'.repeat(20)}1${'</a>'.repeat(20)}</xml>`,
    'success',
    '',
  ]) {
    refused(body, 'xml');
  }
});

test('JSON refusals: not an object, not JSON, a key twice; __proto__ stays data', () => {
  for (const body of ['[]', 'null', '"text"', '42', '', '{"a":1', '{"a":1,"a":2}', '<xml/>']) {
    refused(body, 'json');
  }
  const fields = parsePushBody('{"__proto__":{"polluted":"yes"}}', 'json');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(Object.keys(fields), ['__proto__']);
});

test('renderPushXml: the documented passive text reply, numbers bare, CDATA that cannot break', () => {
  // Official-account 被动回复用户消息, 回复文本消息:
  // https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html
  assert.equal(
    renderPushXml({
      ToUserName: 'toUser',
      FromUserName: 'fromUser',
      CreateTime: 12345678,
      MsgType: 'text',
      Content: '你好',
    }),
    '<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>12345678</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content></xml>',
  );
  const tricky = 'a]]>b <c> & ]]]]> </xml>';
  const xml = renderPushXml({ Content: tricky, Empty: '' });
  assert.deepEqual(parsePushBody(xml, 'xml'), { Content: tricky, Empty: '' });
  assert.throws(() => renderPushXml({ 'Bad Name': 'x' }), RangeError);
  assert.throws(() => renderPushXml({ '<x>': 'x' }), RangeError);
  assert.throws(() => renderPushXml({ N: Number.NaN }), RangeError);
  assert.throws(() => renderPushXml({ C: 'bell\u0007' }), RangeError);
});
