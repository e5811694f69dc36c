import type { Logger } from '@wxmesh/rpc';
import { parsePushBody, PushFormatError } from '@wxmesh/wechat';
import { registeredCounter } from '@wxmesh/telemetry';
import { register } from 'prom-client';
import type { AcceptOutcome, InboundStore } from '../adapters/inbound-store.js';
import { InvalidPushError, pushFormatOf, readInboundPush } from '../domain/push-message.js';

/** The push body is not a WeChat push: the webhook answers 400 with this message. */
export class PushBodyError extends Error {
  override readonly name = 'PushBodyError';
}

/** What {@link AcceptPush} did with a push. */
export interface AcceptedPush {
  readonly outcome: AcceptOutcome;
  /** `MsgType`, or `event:<Event>`: for logs and metrics, never the content. */
  readonly kind: string;
}

/**
 * Reads a verified (and, in safe mode, decrypted) push body and accepts it durably. Throws
 * {@link PushBodyError} for a body that is not a push; store errors propagate (the caller
 * answers 503 and WeChat retries).
 */
export type AcceptPush = (appid: string, body: string) => Promise<AcceptedPush>;

const pushes = registeredCounter(register, {
  name: 'wxmesh_router_inbound_pushes_total',
  help: 'WeChat message pushes taken in, by outcome (accepted, duplicate, full).',
  labelNames: ['outcome'],
});

/**
 * The use case behind the push webhook: parse, read, accept once. The answer to WeChat waits
 * only for this; events are produced later by the inbound processor. Logs carry the appid, the
 * push's kind and the dedupe outcome, never the body or the user.
 */
export function createAcceptPush(deps: {
  store: InboundStore;
  logger: Logger;
  now: () => number;
}): AcceptPush {
  const { store, logger, now } = deps;
  return async (appid, body) => {
    const fields = readPushFields(body);
    let push;
    try {
      push = readInboundPush(fields);
    } catch (err) {
      if (err instanceof InvalidPushError) throw new PushBodyError(`not a WeChat push: ${err.message}`);
      throw err;
    }
    const kind = push.event === undefined ? push.msgType : `event:${push.event}`;
    const outcome = await store.accept(appid, push.dedupeKey, fields, now());
    pushes.inc({ outcome });
    if (outcome === 'full')
      logger.warn({ appid, kind }, 'inbound stream full; push refused, WeChat will retry');
    else logger.info({ appid, kind, outcome }, 'push received');
    return { outcome, kind };
  };
}

/** The body's fields, XML or JSON by its first character; throws {@link PushBodyError}. */
export function readPushFields(body: string): Record<string, unknown> {
  const format = pushFormatOf(body);
  if (format === undefined) throw new PushBodyError('body is neither XML nor JSON');
  try {
    return parsePushBody(body, format);
  } catch (err) {
    if (err instanceof PushFormatError)
      throw new PushBodyError(`malformed ${format.toUpperCase()} body: ${err.message}`);
    throw err;
  }
}
