import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { AttachResponseSchema } from '@wxmesh/contracts';
import type { RelayedMessage } from './relay-codec.js';
import type { OfflineReason } from '../domain/events.js';

type AttachItem = MessageInitShape<typeof AttachResponseSchema>;

interface Queued {
  readonly message: RelayedMessage;
  readonly until: number;
  readonly done: (written: boolean) => void;
}

/** Who a channel belongs to. */
export interface ChannelOwner {
  readonly channelId: string;
  readonly openid: string;
  readonly sessionId: string;
  readonly appid: string;
  readonly unionid: string;
}

/**
 * One Attach stream on this replica: a bounded queue between Deliver and the transport.
 * A class because the queue, its waiter and the stream's end belong to one lifecycle.
 */
export class LiveChannel implements ChannelOwner {
  readonly channelId: string;
  readonly openid: string;
  readonly sessionId: string;
  readonly appid: string;
  readonly unionid: string;
  /** Why the channel closed, when the server closed it; the user's UserOffline reason. */
  endReason: OfflineReason | undefined;
  /** Set when a shutdown already removed this channel from presence and reported it. */
  withdrawn = false;
  private readonly queue: Queued[] = [];
  private writing: Queued | undefined;
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(
    owner: ChannelOwner,
    private readonly capacity: number,
    private readonly abort: (reason: Error) => void,
  ) {
    this.channelId = owner.channelId;
    this.openid = owner.openid;
    this.sessionId = owner.sessionId;
    this.appid = owner.appid;
    this.unionid = owner.unionid;
  }

  /**
   * Queues a message; resolves true once the transport has taken it, false if the channel
   * closes first or `until` passes while it waits. A full queue means the client is not reading:
   * the channel is closed with `overflow` rather than allowed to grow.
   */
  push(message: RelayedMessage, until: number, overflow: Error): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.queue.length >= this.capacity) {
      this.end(overflow, 'overflow');
      return Promise.resolve(false);
    }
    return new Promise((done) => {
      this.queue.push({ message, until, done });
      this.wake?.();
    });
  }

  /** Closes the channel from the server side: pending messages fail, the stream ends with `error`. */
  end(error: Error, reason: OfflineReason): void {
    if (this.closed) return;
    this.endReason = reason;
    this.close();
    this.abort(error);
  }

  /** The stream's items after the first: messages as they arrive, a heartbeat when idle. */
  async *items(signal: AbortSignal, keepaliveMs: number, now: () => number): AsyncGenerator<AttachItem> {
    try {
      for (;;) {
        if (signal.aborted) throw signal.reason;
        const next = this.queue.shift();
        if (next === undefined) {
          if (!(await this.idle(keepaliveMs, signal)))
            yield { item: { case: 'heartbeat', value: { sentAt: timestampFromMs(now()) } } };
          continue;
        }
        if (next.until <= now()) {
          next.done(false);
          continue;
        }
        this.writing = next;
        const { message } = next;
        yield {
          item: {
            case: 'message',
            value: {
              deliveryId: message.deliveryId,
              kind: message.kind,
              payload: message.payload,
              sentAt: timestampFromMs(message.sentAt),
            },
          },
        };
        // Resumed: the transport has taken the message.
        this.writing = undefined;
        next.done(true);
      }
    } finally {
      this.close();
    }
  }

  private close(): void {
    this.closed = true;
    this.writing?.done(false);
    this.writing = undefined;
    for (const queued of this.queue.splice(0)) queued.done(false);
    this.wake?.();
  }

  /** Waits for a message; false when `ms` passed first (time for a heartbeat). */
  private idle(ms: number, signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (woken: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.wake = undefined;
        resolve(woken);
      };
      const onAbort = () => finish(true);
      const timer = setTimeout(() => finish(false), ms);
      signal.addEventListener('abort', onAbort, { once: true });
      this.wake = () => finish(true);
    });
  }
}
