import { createHash } from 'node:crypto';
import {
  ReceivedMessageType,
  SubscriptionSource,
  SubscriptionStatus as SubscriptionStatusEnum,
} from '@wxmesh/contracts';
import type { BehaviourPayloadInit } from '@wxmesh/events';

/**
 * A push body's fields as `parsePushBody` (@wxmesh/wechat) gives them: flat text or numbers,
 * nested values (a subscribe event's `List`) kept as parsed objects or arrays.
 */
export type PushFieldValues = Readonly<Record<string, unknown>>;

/** A user's answer for one subscribe-message template. */
export type SubscriptionAnswer = 'accept' | 'reject' | 'ban';

/** One template's answer carried by a popup or settings event. */
export interface SubscriptionChange {
  readonly templateId: string;
  readonly status: SubscriptionAnswer;
}

/** What one WeChat message push says, ready to become behaviour events. */
export interface InboundPush {
  /** FromUserName: the user, as an openid of the receiving app. */
  readonly openid: string;
  /** CreateTime, epoch seconds (WeChat's clock). */
  readonly createTime: number;
  /**
   * What makes a retried push the same push: `m:<MsgId>` for messages; for events, which have
   * no MsgId, `e:<openid>:<CreateTime>:<Event>` (plus a digest of the MsgIDs a
   * subscribe_msg_sent_event reports, so two receipts of one second stay apart).
   */
  readonly dedupeKey: string;
  /** MsgType as WeChat spelled it, e.g. `text`, `event`. */
  readonly msgType: string;
  /** Event, for `MsgType=event`. */
  readonly event: string | undefined;
  /**
   * The behaviour events it becomes, in order (one per List item for subscribe events). Empty
   * for an event this service does not model (e.g. `user_enter_tempsession`, `SCAN`): such a
   * push is still acknowledged to WeChat, and produces nothing.
   */
  readonly behaviours: readonly BehaviourPayloadInit[];
  /** The subscribe-message answers it carries (popup and settings events), for the subscription state. */
  readonly subscriptionChanges: readonly SubscriptionChange[];
}

/** The push lacks what every WeChat push has (FromUserName, CreateTime, MsgType), or has them malformed. */
export class InvalidPushError extends Error {
  override readonly name = 'InvalidPushError';
}

const MESSAGE_TYPES: Readonly<Record<string, ReceivedMessageType>> = {
  text: ReceivedMessageType.TEXT,
  image: ReceivedMessageType.IMAGE,
  voice: ReceivedMessageType.VOICE,
  video: ReceivedMessageType.VIDEO,
  shortvideo: ReceivedMessageType.VIDEO,
  location: ReceivedMessageType.LOCATION,
  link: ReceivedMessageType.LINK,
  miniprogrampage: ReceivedMessageType.MINIPROGRAM_PAGE,
};

const ANSWERS: Readonly<Record<SubscriptionAnswer, SubscriptionStatusEnum>> = {
  accept: SubscriptionStatusEnum.ACCEPT,
  reject: SubscriptionStatusEnum.REJECT,
  ban: SubscriptionStatusEnum.BAN,
};

const POPUP = 'subscribe_msg_popup_event';
const SETTINGS = 'subscribe_msg_change_event';
const SENT = 'subscribe_msg_sent_event';

/**
 * Reads a push's fields (XML or JSON, plain or decrypted) into an {@link InboundPush}. Pure: the
 * webhook calls it before accepting (a push it throws for is answered 400), and the processor
 * again on the stored fields, so a push accepted by an older version is read by the current one.
 *
 * Personal data stays out of the events: a message's content, a location, a link or a picture is
 * never copied into them; `msg_id` finds the message at WeChat. A message of a `MsgType` not
 * listed in the proto still becomes MessageReceived, with type UNSPECIFIED and its `raw_type`.
 * Throws {@link InvalidPushError}.
 */
export function readInboundPush(fields: PushFieldValues): InboundPush {
  const openid = text(fields.FromUserName);
  if (!openid) throw new InvalidPushError('FromUserName (the user) is missing');
  const createTime = Number(text(fields.CreateTime));
  if (!Number.isSafeInteger(createTime) || createTime <= 0)
    throw new InvalidPushError('CreateTime is missing or not a positive integer of seconds');
  const msgType = text(fields.MsgType);
  if (!msgType) throw new InvalidPushError('MsgType is missing');
  const base = { openid, createTime, msgType };

  if (msgType !== 'event') {
    const msgId = text(fields.MsgId) ?? text(fields.MsgID);
    const type = MESSAGE_TYPES[msgType] ?? ReceivedMessageType.UNSPECIFIED;
    return {
      ...base,
      event: undefined,
      dedupeKey: msgId ? `m:${msgId}` : `e:${openid}:${createTime}:${msgType}`,
      behaviours: [{ case: 'messageReceived', value: { msgId: msgId ?? '', type, rawType: msgType } }],
      subscriptionChanges: [],
    };
  }

  const event = text(fields.Event);
  if (!event) throw new InvalidPushError('Event is missing from an event push');
  const read = readEvent(event, fields);
  return {
    ...base,
    event,
    dedupeKey: eventDedupeKey(fields, openid, createTime, event, read.sentMsgIds),
    behaviours: read.behaviours,
    subscriptionChanges: read.subscriptionChanges,
  };
}

interface ReadEvent {
  behaviours: BehaviourPayloadInit[];
  subscriptionChanges: SubscriptionChange[];
  sentMsgIds?: string[];
}

function readEvent(event: string, fields: PushFieldValues): ReadEvent {
  const eventKey = text(fields.EventKey) ?? '';
  switch (event) {
    case 'subscribe':
    case 'unsubscribe':
      return {
        behaviours: [{ case: 'followChanged', value: { following: event === 'subscribe', eventKey } }],
        subscriptionChanges: [],
      };
    case 'CLICK':
    case 'VIEW':
      return { behaviours: [{ case: 'menuClicked', value: { event, eventKey } }], subscriptionChanges: [] };
    case POPUP:
    case SETTINGS:
      return readSubscriptionAnswers(event, fields);
    case SENT:
      return readSentReceipts(fields);
    default:
      return { behaviours: [], subscriptionChanges: [] };
  }
}

function readSubscriptionAnswers(event: string, fields: PushFieldValues): ReadEvent {
  const source = event === POPUP ? SubscriptionSource.POPUP : SubscriptionSource.SETTINGS;
  const wrapper = event === POPUP ? 'SubscribeMsgPopupEvent' : 'SubscribeMsgChangeEvent';
  const out: ReadEvent = { behaviours: [], subscriptionChanges: [] };
  for (const item of listItems(fields, wrapper)) {
    const templateId = text(item.TemplateId);
    const status = answerOf(text(item.SubscribeStatusString));
    if (!templateId || !status) continue;
    const scene = Number(text(item.PopupScene) ?? 0);
    out.subscriptionChanges.push({ templateId, status });
    out.behaviours.push({
      case: 'subscriptionChanged',
      value: {
        templateId,
        status: ANSWERS[status],
        source,
        popupScene: Number.isSafeInteger(scene) && scene >= 0 && scene <= 0xffffffff ? scene : 0,
      },
    });
  }
  return out;
}

function readSentReceipts(fields: PushFieldValues): ReadEvent {
  const out: ReadEvent = { behaviours: [], subscriptionChanges: [], sentMsgIds: [] };
  for (const item of listItems(fields, 'SubscribeMsgSentEvent')) {
    const templateId = text(item.TemplateId);
    if (!templateId) continue;
    const msgId = text(item.MsgID) ?? text(item.MsgId) ?? '';
    const code = Number(text(item.ErrorCode) ?? 0);
    out.sentMsgIds!.push(msgId);
    out.behaviours.push({
      case: 'subscribeMessageSent',
      value: {
        templateId,
        msgId,
        errorCode: Number.isSafeInteger(code) && Math.abs(code) <= 0x7fffffff ? code : -1,
        errorStatus: text(item.ErrorStatus) ?? '',
      },
    });
  }
  return out;
}

// `accept`, `reject` and `ban` as documented; wx.getSetting's `acceptWithAudio` /
// `acceptWithAlert` are accepts too, should a push ever carry them. Anything else: skipped.
function answerOf(raw: string | undefined): SubscriptionAnswer | undefined {
  if (raw === 'reject' || raw === 'ban') return raw;
  return raw?.startsWith('accept') ? 'accept' : undefined;
}

function eventDedupeKey(
  fields: PushFieldValues,
  openid: string,
  createTime: number,
  event: string,
  sentMsgIds: string[] | undefined,
): string {
  // Template-message receipts (TEMPLATESENDJOBFINISH) carry a top-level MsgID: one push per message.
  const msgId = text(fields.MsgId) ?? text(fields.MsgID);
  if (msgId) return `m:${msgId}`;
  const key = `e:${openid}:${createTime}:${event}`;
  if (!sentMsgIds?.length) return key;
  const digest = createHash('sha256')
    .update([...sentMsgIds].sort().join(','))
    .digest('hex');
  return `${key}:${digest.slice(0, 16)}`;
}

/**
 * The items of a subscribe event's List, whichever shape the body gave: XML nests them in a
 * wrapper element (`<SubscribeMsgPopupEvent><List>...</List><List>...</List>`), JSON has a
 * top-level `List`, and either has one object where there is one item, an array for several.
 */
function listItems(fields: PushFieldValues, wrapper: string): Record<string, unknown>[] {
  const nested = itemsOf(fields[wrapper]);
  return nested.length > 0 ? nested : itemsOf(fields.List);
}

function itemsOf(value: unknown, depth = 0): Record<string, unknown>[] {
  if (depth > 4) return [];
  if (Array.isArray(value)) return value.flatMap((v) => itemsOf(v, depth + 1));
  if (typeof value !== 'object' || value === null) return [];
  const record = value as Record<string, unknown>;
  if ('TemplateId' in record) return [record];
  return itemsOf(record.List ?? record.item, depth + 1);
}

/** A scalar field as text: strings as they are, numbers in decimal; absent, empty or nested: undefined. */
function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return value.toString();
  return undefined;
}

/**
 * The event id of the `index`-th behaviour event of an accepted push: a digest of the appid and
 * the dedupe key, so a push WeChat retried, or an entry processed twice after a crash or a
 * claim, produces the same ids and consumers drop the copies.
 */
export function inboundEventId(appid: string, dedupeKey: string, index: number): string {
  const digest = createHash('sha256').update(`${appid}\n${dedupeKey}`).digest('hex');
  return `push:${digest.slice(0, 40)}:${index}`;
}

/**
 * A push body's format by its first non-space character: `<` XML, `{` JSON, else undefined.
 * WeChat's Content-Type is not relied on (proxies and the console's format setting disagree).
 */
export function pushFormatOf(body: string): 'xml' | 'json' | undefined {
  const first = /\S/.exec(body)?.[0];
  return first === '<' ? 'xml' : first === '{' ? 'json' : undefined;
}
