import type {
  Delivery,
  DeliveryChannel,
  DeliveryError,
  DeliveryPriority,
  DeliveryState,
  DeliveryStep,
  SubscribeContent,
} from '../domain/delivery.js';

/*
 * The storage codec of the router's delivery keyspace: the only code that knows the short hash
 * field names and the history entries' JSON shape. The Lua scripts in delivery-store.ts read and
 * write the fields named here (`s` state, `n` attempts, `c` channel, `p` priority).
 */

const CHANNEL_CODE: Record<DeliveryChannel, string> = { IN_APP: 'I', SUBSCRIBE: 'S' };
const PRIORITY_CODE: Record<DeliveryPriority, string> = { HIGH: 'H', NORMAL: 'N', LOW: 'L' };
const CHANNELS = invert(CHANNEL_CODE);
const PRIORITIES = invert(PRIORITY_CODE);

function invert<K extends string>(table: Record<K, string>): Record<string, K> {
  return Object.fromEntries(Object.entries(table).map(([k, v]) => [v, k])) as Record<string, K>;
}

/** The channel's stored code (`I` / `S`). */
export const channelCode = (channel: DeliveryChannel): string => CHANNEL_CODE[channel];
/** The priority's stored code (`H` / `N` / `L`). */
export const priorityCode = (priority: DeliveryPriority): string => PRIORITY_CODE[priority];

/** A new delivery's hash fields, as `[field, value, ...]` for HSET. */
export function encodeNewDelivery(d: {
  appid: string;
  openid: string;
  messageId: string;
  channel: DeliveryChannel;
  priority: DeliveryPriority;
  state: DeliveryState;
  attempts: number;
  createdAt: number;
  subscribe?: SubscribeContent;
  error?: DeliveryError;
}): string[] {
  const fields = [
    'a', d.appid,
    'o', d.openid,
    'm', d.messageId,
    'c', CHANNEL_CODE[d.channel],
    'p', PRIORITY_CODE[d.priority],
    's', d.state,
    'n', String(d.attempts),
    'ca', String(d.createdAt),
    'ua', String(d.createdAt),
  ]; // prettier-ignore
  if (d.subscribe) fields.push('sub', JSON.stringify(d.subscribe));
  if (d.error) fields.push(...encodeError(d.error));
  return fields;
}

/** The last-error fields of a failed attempt. */
export function encodeError(error: DeliveryError): string[] {
  return ['ec', String(error.errcode), 'em', error.message, 'er', error.retryable ? '1' : '0'];
}

/** One history entry. */
export function encodeStep(step: DeliveryStep): string {
  return JSON.stringify({
    s: step.state,
    t: step.at,
    n: step.attempt,
    c: CHANNEL_CODE[step.channel],
    ...(step.error ? { e: [step.error.errcode, step.error.message, step.error.retryable ? 1 : 0] } : {}),
  });
}

function decodeStep(raw: string): DeliveryStep {
  const j = JSON.parse(raw) as {
    s: DeliveryState;
    t: number;
    n: number;
    c: string;
    e?: [number, string, number];
  };
  return {
    state: j.s,
    at: j.t,
    attempt: j.n,
    channel: CHANNELS[j.c] ?? 'SUBSCRIBE',
    ...(j.e ? { error: { errcode: j.e[0], message: j.e[1], retryable: j.e[2] === 1 } } : {}),
  };
}

const optionalNumber = (raw: string | undefined) =>
  raw === undefined || raw === '' ? undefined : Number(raw);

/** A stored delivery (HGETALL + its history list) in domain terms. */
export function decodeDelivery(
  deliveryId: string,
  hash: Record<string, string>,
  history: string[],
): Delivery {
  return {
    deliveryId,
    appid: hash.a!,
    openid: hash.o!,
    messageId: hash.m!,
    channel: CHANNELS[hash.c!] ?? 'SUBSCRIBE',
    priority: PRIORITIES[hash.p!] ?? 'NORMAL',
    state: hash.s as DeliveryState,
    attempts: Number(hash.n ?? 0),
    createdAt: Number(hash.ca),
    updatedAt: Number(hash.ua),
    nextAttemptAt: optionalNumber(hash.na),
    deliveredAt: optionalNumber(hash.da),
    lastError:
      hash.ec === undefined
        ? undefined
        : { errcode: Number(hash.ec), message: hash.em ?? '', retryable: hash.er === '1' },
    subscribe: hash.sub === undefined ? undefined : (JSON.parse(hash.sub) as SubscribeContent),
    history: history.map(decodeStep),
  };
}
