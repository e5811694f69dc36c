import { createHash } from 'node:crypto';

/** Where a delivery stands; terminal states are DELIVERED, FAILED and DEAD_LETTERED. */
export type DeliveryState =
  'QUEUED' | 'SENDING' | 'RETRY_SCHEDULED' | 'DELIVERED' | 'FAILED' | 'DEAD_LETTERED';

/** The channel a delivery uses: the user's live channel, or a WeChat subscribe message. */
export type DeliveryChannel = 'IN_APP' | 'SUBSCRIBE';

/** Queue order: HIGH before NORMAL before LOW. */
export type DeliveryPriority = 'HIGH' | 'NORMAL' | 'LOW';

export const PRIORITIES: readonly DeliveryPriority[] = ['HIGH', 'NORMAL', 'LOW'];

const TERMINAL: ReadonlySet<DeliveryState> = new Set(['DELIVERED', 'FAILED', 'DEAD_LETTERED']);

/** True for the states a delivery never leaves (except DEAD_LETTERED, by an operator's replay). */
export function isTerminal(state: DeliveryState): boolean {
  return TERMINAL.has(state);
}

/** Why an attempt or a delivery failed: WeChat's errcode (0 when not a WeChat answer) and a cause free of secrets. */
export interface DeliveryError {
  readonly errcode: number;
  readonly message: string;
  readonly retryable: boolean;
}

/** The subscribe message a delivery sends, as /cgi-bin/message/subscribe/send takes it. */
export interface SubscribeContent {
  readonly templateId: string;
  readonly page: string;
  readonly data: Readonly<Record<string, string>>;
  readonly miniprogramState: 'formal' | 'trial' | 'developer';
  readonly lang: string;
}

/** The in-app message a delivery writes to the user's live channel. */
export interface InAppContent {
  readonly kind: string;
  readonly payload: Uint8Array;
}

/** One state change, kept in the delivery's history. */
export interface DeliveryStep {
  readonly state: DeliveryState;
  readonly at: number;
  readonly attempt: number;
  readonly channel: DeliveryChannel;
  readonly error?: DeliveryError;
}

/** A message's journey to one user, as stored and as GetDelivery reports it. */
export interface Delivery {
  readonly deliveryId: string;
  readonly appid: string;
  readonly openid: string;
  readonly messageId: string;
  readonly channel: DeliveryChannel;
  readonly priority: DeliveryPriority;
  readonly state: DeliveryState;
  readonly attempts: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly nextAttemptAt?: number;
  readonly deliveredAt?: number;
  readonly lastError?: DeliveryError;
  readonly subscribe?: SubscribeContent;
  readonly history: readonly DeliveryStep[];
}

/**
 * The delivery id of one recipient of one message: a digest of (appid, message id, openid), so the
 * same idempotency key always names the same delivery and a repeat never creates a second one.
 */
export function deliveryIdFor(appid: string, messageId: string, openid: string): string {
  const digest = createHash('sha256').update(`${appid}\0${messageId}\0${openid}`).digest('base64url');
  return `dl_${digest.slice(0, 27)}`;
}
