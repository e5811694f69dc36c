// WeChat's published sample pushes, parsed by @wxmesh/wechat's parsePushBody as the webhook does:
// the mini-program customer-service messages (接收消息和事件), the official-account messages and
// events (接收普通消息 / 接收事件推送), and the subscribe-message events (小程序订阅消息 — 订阅消息
// 事件推送). The JSON samples of the subscribe events are as documented except for their
// trailing commas, which no JSON parser (nor WeChat's sender) produces.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReceivedMessageType, SubscriptionSource, SubscriptionStatus } from '@wxmesh/contracts';
import { parsePushBody } from '@wxmesh/wechat';
import { inboundEventId, InvalidPushError, pushFormatOf, readInboundPush } from './push-message.js';

const xml = (body: string) => readInboundPush(parsePushBody(body, 'xml'));
const json = (body: string) => readInboundPush(parsePushBody(body, 'json'));

test('text message (mini-program sample): XML and JSON read alike, the content stays out', () => {
  const fromXml = xml(`<xml>
   <ToUserName><![CDATA[toUser]]></ToUserName>
   <FromUserName><![CDATA[fromUser]]></FromUserName>
   <CreateTime>1482048670</CreateTime>
   <MsgType><![CDATA[text]]></MsgType>
   <Content><![CDATA[this is a test]]></Content>
   <MsgId>1234567890123456</MsgId>
</xml>`);
  const fromJson = json(`{
  "ToUserName": "toUser",
  "FromUserName": "fromUser",
  "CreateTime": 1482048670,
  "MsgType": "text",
  "Content": "this is a test",
  "MsgId": 1234567890123456
}`);
  assert.deepEqual(fromXml, fromJson);
  assert.equal(fromXml.openid, 'fromUser');
  assert.equal(fromXml.createTime, 1482048670);
  assert.equal(fromXml.dedupeKey, 'm:1234567890123456');
  assert.deepEqual(fromXml.behaviours, [
    {
      case: 'messageReceived',
      value: { msgId: '1234567890123456', type: ReceivedMessageType.TEXT, rawType: 'text' },
    },
  ]);
  assert.ok(!JSON.stringify(fromXml).includes('this is a test'), 'no content in what becomes events');
});

test('a 64-bit MsgId keeps every digit, in XML and in JSON', () => {
  const body = (id: string) =>
    `{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":1700000000,"MsgType":"text","Content":"x","MsgId":${id}}`;
  assert.equal(json(body('1700827132819554304')).dedupeKey, 'm:1700827132819554304');
  const x = xml(
    '<xml><FromUserName>o1</FromUserName><CreateTime>1700000000</CreateTime><MsgType>text</MsgType><MsgId>1700827132819554305</MsgId></xml>',
  );
  assert.equal(x.dedupeKey, 'm:1700827132819554305');
});

test('image, voice, video, shortvideo, location, link, miniprogrampage become MessageReceived of their type', () => {
  const samples: Array<[string, ReceivedMessageType, string]> = [
    [
      '<PicUrl><![CDATA[this is a url]]></PicUrl><MediaId><![CDATA[media_id]]></MediaId>',
      ReceivedMessageType.IMAGE,
      'image',
    ],
    [
      '<MediaId><![CDATA[media_id]]></MediaId><Format><![CDATA[Format]]></Format>',
      ReceivedMessageType.VOICE,
      'voice',
    ],
    [
      '<MediaId><![CDATA[media_id]]></MediaId><ThumbMediaId><![CDATA[thumb_media_id]]></ThumbMediaId>',
      ReceivedMessageType.VIDEO,
      'video',
    ],
    [
      '<MediaId><![CDATA[media_id]]></MediaId><ThumbMediaId><![CDATA[thumb_media_id]]></ThumbMediaId>',
      ReceivedMessageType.VIDEO,
      'shortvideo',
    ],
    [
      '<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置信息]]></Label>',
      ReceivedMessageType.LOCATION,
      'location',
    ],
    [
      '<Title><![CDATA[公众平台官网链接]]></Title><Description><![CDATA[公众平台官网链接]]></Description><Url><![CDATA[url]]></Url>',
      ReceivedMessageType.LINK,
      'link',
    ],
    [
      '<Title><![CDATA[Title]]></Title><AppId><![CDATA[AppId]]></AppId><PagePath><![CDATA[PagePath]]></PagePath><ThumbUrl><![CDATA[ThumbUrl]]></ThumbUrl><ThumbMediaId><![CDATA[ThumbMediaId]]></ThumbMediaId>',
      ReceivedMessageType.MINIPROGRAM_PAGE,
      'miniprogrampage',
    ],
  ];
  for (const [extra, type, rawType] of samples) {
    const push = xml(
      `<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName>` +
        `<CreateTime>1357290913</CreateTime><MsgType><![CDATA[${rawType}]]></MsgType>${extra}` +
        `<MsgId>1234567890123456</MsgId></xml>`,
    );
    assert.deepEqual(
      push.behaviours,
      [{ case: 'messageReceived', value: { msgId: '1234567890123456', type, rawType } }],
      rawType,
    );
    for (const personal of ['23.134521', '位置信息', 'url', 'media_id', 'PagePath'])
      assert.ok(!JSON.stringify(push.behaviours).includes(personal), `${rawType}: ${personal} left out`);
  }
});

test('a message type WeChat adds later is still MessageReceived, type UNSPECIFIED, raw type kept', () => {
  const push = json(
    '{"FromUserName":"o1","CreateTime":1700000000,"MsgType":"file","MsgId":"42","Title":"report.pdf"}',
  );
  assert.deepEqual(push.behaviours, [
    {
      case: 'messageReceived',
      value: { msgId: '42', type: ReceivedMessageType.UNSPECIFIED, rawType: 'file' },
    },
  ]);
});

test('subscribe (with a QR scene) and unsubscribe become FollowChanged', () => {
  const follow = xml(`<xml>
  <ToUserName><![CDATA[toUser]]></ToUserName>
  <FromUserName><![CDATA[FromUser]]></FromUserName>
  <CreateTime>123456789</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[subscribe]]></Event>
  <EventKey><![CDATA[qrscene_123123]]></EventKey>
  <Ticket><![CDATA[TICKET]]></Ticket>
</xml>`);
  assert.equal(follow.dedupeKey, 'e:FromUser:123456789:subscribe');
  assert.deepEqual(follow.behaviours, [
    { case: 'followChanged', value: { following: true, eventKey: 'qrscene_123123' } },
  ]);
  const unfollow = xml(
    '<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[FromUser]]></FromUserName>' +
      '<CreateTime>123456790</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[unsubscribe]]></Event></xml>',
  );
  assert.deepEqual(unfollow.behaviours, [
    { case: 'followChanged', value: { following: false, eventKey: '' } },
  ]);
  assert.notEqual(unfollow.dedupeKey, follow.dedupeKey);
});

test('CLICK and VIEW menu events become MenuClicked', () => {
  const click = xml(`<xml>
  <ToUserName><![CDATA[toUser]]></ToUserName>
  <FromUserName><![CDATA[FromUser]]></FromUserName>
  <CreateTime>123456789</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[CLICK]]></Event>
  <EventKey><![CDATA[EVENTKEY]]></EventKey>
</xml>`);
  assert.deepEqual(click.behaviours, [
    { case: 'menuClicked', value: { event: 'CLICK', eventKey: 'EVENTKEY' } },
  ]);
  const view = xml(`<xml>
  <ToUserName><![CDATA[toUser]]></ToUserName>
  <FromUserName><![CDATA[FromUser]]></FromUserName>
  <CreateTime>123456789</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[VIEW]]></Event>
  <EventKey><![CDATA[www.qq.com]]></EventKey>
</xml>`);
  assert.deepEqual(view.behaviours, [
    { case: 'menuClicked', value: { event: 'VIEW', eventKey: 'www.qq.com' } },
  ]);
});

test('subscribe_msg_popup_event: one SubscriptionChanged per List item, XML (two items) and JSON (array)', () => {
  const fromXml = xml(`<xml>
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
</xml>`);
  assert.equal(fromXml.openid, 'otFpruAK8D-E6EfStSYonYSBZ8_4');
  assert.equal(fromXml.dedupeKey, 'e:otFpruAK8D-E6EfStSYonYSBZ8_4:1610969440:subscribe_msg_popup_event');
  assert.deepEqual(fromXml.subscriptionChanges, [
    { templateId: 'VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc', status: 'accept' },
    { templateId: '9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI', status: 'reject' },
  ]);
  assert.deepEqual(fromXml.behaviours, [
    {
      case: 'subscriptionChanged',
      value: {
        templateId: 'VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc',
        status: SubscriptionStatus.ACCEPT,
        source: SubscriptionSource.POPUP,
        popupScene: 2,
      },
    },
    {
      case: 'subscriptionChanged',
      value: {
        templateId: '9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI',
        status: SubscriptionStatus.REJECT,
        source: SubscriptionSource.POPUP,
        popupScene: 2,
      },
    },
  ]);

  const fromJson = json(`{
  "ToUserName": "gh_123456789abc",
  "FromUserName": "o7esq5OI1Uej6Xixw1lA2H7XDVbc",
  "CreateTime": "1620973045",
  "MsgType": "event",
  "Event": "subscribe_msg_popup_event",
  "List": [   {
        "TemplateId": "hD-ixGOhYmUfjOnI8MCzQMPshzGVeux_2vzyvQu7O68",
        "SubscribeStatusString": "accept",
        "PopupScene": "0"
    }]
 }`);
  assert.equal(fromJson.createTime, 1620973045);
  assert.deepEqual(fromJson.behaviours, [
    {
      case: 'subscriptionChanged',
      value: {
        templateId: 'hD-ixGOhYmUfjOnI8MCzQMPshzGVeux_2vzyvQu7O68',
        status: SubscriptionStatus.ACCEPT,
        source: SubscriptionSource.POPUP,
        popupScene: 0,
      },
    },
  ]);
});

test('subscribe_msg_change_event: one XML item, and JSON List as a lone object or an array', () => {
  const fromXml = xml(`<xml>
    <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>
    <FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>
    <CreateTime>1610969440</CreateTime>
    <MsgType><![CDATA[event]]></MsgType>
    <Event><![CDATA[subscribe_msg_change_event]]></Event>
    <SubscribeMsgChangeEvent>
        <List>          <TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>
            <SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>
        </List>
    </SubscribeMsgChangeEvent>
</xml>`);
  assert.deepEqual(fromXml.subscriptionChanges, [
    { templateId: 'VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc', status: 'reject' },
  ]);
  assert.deepEqual(fromXml.behaviours, [
    {
      case: 'subscriptionChanged',
      value: {
        templateId: 'VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc',
        status: SubscriptionStatus.REJECT,
        source: SubscriptionSource.SETTINGS,
        popupScene: 0,
      },
    },
  ]);

  // "若 List 只有一个对象，则只返回对象本身": the lone-object shape WeChat actually sends.
  const lone = json(
    '{"ToUserName":"gh_123456789abc","FromUserName":"o7esq5OI1Uej6Xixw1lA2H7XDVbc","CreateTime":"1610968440",' +
      '"MsgType":"event","Event":"subscribe_msg_change_event",' +
      '"List":{"TemplateId":"BEwX0BOT3MqK3Uc5oTU3CGBqzjpndk2jzUf7VfExd8","SubscribeStatusString":"reject"}}',
  );
  const array = json(`{
      "ToUserName": "gh_123456789abc",
      "FromUserName": "o7esq5OI1Uej6Xixw1lA2H7XDVbc",
      "CreateTime": "1610968440",
      "MsgType": "event",
      "Event": "subscribe_msg_change_event",
      "List": [  {
                "TemplateId":"BEwX0BOT3MqK3Uc5oTU3CGBqzjpndk2jzUf7VfExd8",
                "SubscribeStatusString": "reject"
      }]
}`);
  assert.deepEqual(lone, array);
  assert.deepEqual(lone.subscriptionChanges, [
    { templateId: 'BEwX0BOT3MqK3Uc5oTU3CGBqzjpndk2jzUf7VfExd8', status: 'reject' },
  ]);
});

test('subscribe_msg_sent_event: SubscribeMessageSent per item; its MsgIDs keep receipts of one second apart', () => {
  const fromXml = xml(`<xml>
    <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>
    <FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>
    <CreateTime>1610969468</CreateTime>
    <MsgType><![CDATA[event]]></MsgType>
    <Event><![CDATA[subscribe_msg_sent_event]]></Event>
    <SubscribeMsgSentEvent>
        <List>       <TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>
            <MsgID>1700827132819554304</MsgID>
            <ErrorCode>0</ErrorCode>
            <ErrorStatus><![CDATA[success]]></ErrorStatus>
        </List>
    </SubscribeMsgSentEvent>
</xml>`);
  assert.deepEqual(fromXml.behaviours, [
    {
      case: 'subscribeMessageSent',
      value: {
        templateId: 'VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc',
        msgId: '1700827132819554304',
        errorCode: 0,
        errorStatus: 'success',
      },
    },
  ]);
  assert.deepEqual(fromXml.subscriptionChanges, [], 'a receipt changes no subscription');
  assert.match(
    fromXml.dedupeKey,
    /^e:otFpruAK8D-E6EfStSYonYSBZ8_4:1610969468:subscribe_msg_sent_event:[0-9a-f]{16}$/,
  );

  const sent = (msgId: string, code: string) =>
    json(`{
    "ToUserName": "gh_123456789abc",
    "FromUserName": "o7esq5PHRGBQYmeNyfG064wEFVpQ",
    "CreateTime": "1620963428",
    "MsgType": "event",
    "Event": "subscribe_msg_sent_event",
    "List": {
        "TemplateId": "BEwX0BO-T3MqK3Uc5oTU3CGBqzjpndk2jzUf7VfExd8",
        "MsgID": "${msgId}",
        "ErrorCode": "${code}",
        "ErrorStatus": "success"
      }
}`);
  const first = sent('1864323726461255680', '0');
  assert.deepEqual(first.behaviours, [
    {
      case: 'subscribeMessageSent',
      value: {
        templateId: 'BEwX0BO-T3MqK3Uc5oTU3CGBqzjpndk2jzUf7VfExd8',
        msgId: '1864323726461255680',
        errorCode: 0,
        errorStatus: 'success',
      },
    },
  ]);
  assert.equal(sent('1864323726461255680', '0').dedupeKey, first.dedupeKey, 'a retry is the same push');
  assert.notEqual(sent('1864323726461255681', '10002').dedupeKey, first.dedupeKey);
});

test('an event we do not model (user_enter_tempsession) produces nothing, yet is a valid push', () => {
  const push = json(`{
  "ToUserName": "toUser",
  "FromUserName": "fromUser",
  "CreateTime": 1482048670,
  "MsgType": "event",
  "Event": "user_enter_tempsession",
  "SessionFrom": "sessionFrom"
}`);
  assert.equal(push.event, 'user_enter_tempsession');
  assert.equal(push.dedupeKey, 'e:fromUser:1482048670:user_enter_tempsession');
  assert.deepEqual(push.behaviours, []);
  assert.deepEqual(push.subscriptionChanges, []);
});

test('items without a template or with an unknown answer are skipped; ban and acceptWith* are read', () => {
  const push = readInboundPush({
    FromUserName: 'o1',
    CreateTime: '1700000000',
    MsgType: 'event',
    Event: 'subscribe_msg_change_event',
    List: [
      { TemplateId: 'T1', SubscribeStatusString: 'ban' },
      { TemplateId: 'T2', SubscribeStatusString: 'acceptWithAudio' },
      { TemplateId: 'T3', SubscribeStatusString: 'maybe' },
      { SubscribeStatusString: 'accept' },
    ],
  });
  assert.deepEqual(push.subscriptionChanges, [
    { templateId: 'T1', status: 'ban' },
    { templateId: 'T2', status: 'accept' },
  ]);
});

test('what every push has is required: FromUserName, CreateTime (positive seconds), MsgType, Event', () => {
  const good = { FromUserName: 'o1', CreateTime: '1700000000', MsgType: 'event', Event: 'CLICK' };
  for (const [bad, why] of [
    [{ ...good, FromUserName: '' }, /FromUserName/],
    [{ ...good, FromUserName: { x: 1 } }, /FromUserName/],
    [{ ...good, CreateTime: 'yesterday' }, /CreateTime/],
    [{ ...good, CreateTime: '-5' }, /CreateTime/],
    [{ ...good, MsgType: undefined }, /MsgType/],
    [{ ...good, Event: undefined }, /Event/],
  ] as const) {
    assert.throws(
      () => readInboundPush(bad),
      (err: Error) => err instanceof InvalidPushError && why.test(err.message),
    );
  }
});

test('pushFormatOf: the first non-space character decides', () => {
  assert.equal(pushFormatOf('  \n<xml></xml>'), 'xml');
  assert.equal(pushFormatOf('\uFEFF{"a":1}'), 'json');
  assert.equal(pushFormatOf('hello'), undefined);
  assert.equal(pushFormatOf(''), undefined);
});

test('inboundEventId: stable per (appid, dedupe key, index), different otherwise, within the schema', () => {
  const id = inboundEventId('wx1', 'm:1', 0);
  assert.equal(inboundEventId('wx1', 'm:1', 0), id);
  assert.notEqual(inboundEventId('wx1', 'm:1', 1), id);
  assert.notEqual(inboundEventId('wx2', 'm:1', 0), id);
  assert.notEqual(inboundEventId('wx1', 'm:2', 0), id);
  assert.match(id, /^[0-9A-Za-z._~:-]{1,128}$/);
});
