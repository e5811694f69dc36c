/*
 * The wire codec of the replica-to-replica relay (Redis pub/sub, one channel per replica): the only
 * code that knows the messages' short JSON field names. Replicas of different versions share the
 * relay during a rollout, so the shape below is a contract between them.
 */

/** A message for a user's live channels, as it travels between replicas. */
export interface RelayedMessage {
  readonly deliveryId: string;
  readonly kind: string;
  readonly payload: Uint8Array;
  /** When Deliver accepted it (epoch ms). */
  readonly sentAt: number;
}

/** What one replica asks or tells another. */
export type RelayEnvelope =
  | {
      readonly kind: 'deliver';
      readonly requestId: string;
      readonly from: string;
      readonly openid: string;
      readonly until: number;
      readonly message: RelayedMessage;
    }
  | { readonly kind: 'ack'; readonly requestId: string; readonly written: number }
  | { readonly kind: 'end'; readonly openid: string; readonly sessionId: string; readonly reason: string };

type Wire =
  | {
      k: 'deliver';
      id: string;
      from: string;
      openid: string;
      until: number;
      m: { deliveryId: string; kind: string; sentAt: number; p: string };
    }
  | { k: 'ack'; id: string; n: number }
  | { k: 'end'; openid: string; sid: string; reason: string };

function toWire(envelope: RelayEnvelope): Wire {
  switch (envelope.kind) {
    case 'deliver': {
      const { message } = envelope;
      return {
        k: 'deliver',
        id: envelope.requestId,
        from: envelope.from,
        openid: envelope.openid,
        until: envelope.until,
        m: {
          deliveryId: message.deliveryId,
          kind: message.kind,
          sentAt: message.sentAt,
          p: Buffer.from(message.payload).toString('base64'),
        },
      };
    }
    case 'ack':
      return { k: 'ack', id: envelope.requestId, n: envelope.written };
    case 'end':
      return { k: 'end', openid: envelope.openid, sid: envelope.sessionId, reason: envelope.reason };
  }
}

/** The pub/sub payload of an envelope. */
export function encodeRelayEnvelope(envelope: RelayEnvelope): string {
  return JSON.stringify(toWire(envelope));
}

/** The envelope a pub/sub payload holds; undefined for a kind this replica does not know. Throws on bad JSON. */
export function decodeRelayEnvelope(raw: string): RelayEnvelope | undefined {
  const wire = JSON.parse(raw) as Wire;
  switch (wire.k) {
    case 'deliver': {
      const { p, ...rest } = wire.m;
      const message = { ...rest, payload: Buffer.from(p, 'base64') };
      return {
        kind: 'deliver',
        requestId: wire.id,
        from: wire.from,
        openid: wire.openid,
        until: wire.until,
        message,
      };
    }
    case 'ack':
      return { kind: 'ack', requestId: wire.id, written: wire.n };
    case 'end':
      return { kind: 'end', openid: wire.openid, sessionId: wire.sid, reason: wire.reason };
    default:
      return undefined;
  }
}
